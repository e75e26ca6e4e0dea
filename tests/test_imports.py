from pathlib import Path

import features
import models
import pipeline

REPO = Path(__file__).resolve().parents[1]


def test_top_level_packages_import_from_this_repo():
    # `pipeline`, `features` and `models` are generic names: make sure we get ours, not another install
    for pkg in (pipeline, features, models):
        assert Path(pkg.__file__).resolve().parent.parent == REPO

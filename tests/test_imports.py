import re
from pathlib import Path

import segment
import segment.features
import segment.models
import segment.pipeline

REPO = Path(__file__).resolve().parents[1]


def test_the_import_root_maps_the_card_folders_of_this_repo():
    # `segment.pipeline` etc. are installed from the card's folders: make sure we get ours, not another install
    assert Path(segment.__file__).resolve().parent == REPO / "segment"
    for pkg, folder in ((segment.pipeline, "pipeline"), (segment.features, "features"), (segment.models, "models")):
        assert Path(pkg.__file__).resolve().parent == REPO / folder


def test_reusable_packages_never_import_the_application_shell():
    """features/ and models/ (and the kernel) import nothing from pipeline/: they are usable without it."""
    for folder in ("segment", "features", "models"):
        for path in (REPO / folder).glob("*.py"):
            imports = re.findall(r"^\s*(?:from|import) ([\w.]+)", path.read_text(), flags=re.M)
            assert not [m for m in imports if m.startswith(("segment.pipeline", "mlflow"))], path


def test_mlflow_is_imported_in_one_module_of_the_pipeline():
    """Every MLflow call goes through pipeline/tracking.py (what a run records is decided in record.py)."""
    users = [
        p.name
        for p in sorted((REPO / "pipeline").glob("*.py"))
        if re.search(r"^\s*(?:from|import) mlflow\b", p.read_text(), flags=re.M)
    ]
    assert users == ["tracking.py"]

# Sourced by .ci/run: make the Spark tests runnable (tests/spark, marker `spark`). Installs the `spark` extra
# (pyspark, sqlglot) into the project's venv and Debian's Java 17 when no java is found. Never fails the CI
# run: without them the Spark tests skip with their reason.
_segment_spark_setup() {
    if [ ! -x .venv/bin/python ]; then
        make setup >/dev/null || return 1
    fi
    if ! .venv/bin/python -c 'import pyspark, sqlglot' >/dev/null 2>&1; then
        echo "ci: installing the spark extra"
        .venv/bin/python -m pip install --quiet -e '.[dev,spark]' || return 1
    fi
    if ! command -v java >/dev/null 2>&1 && [ -z "${JAVA_HOME:-}" ]; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            echo "ci: installing Debian's Java 17 (headless)"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null \
                || return 1
        else
            echo "ci: no java and no apt-get as root"
            return 1
        fi
    fi
    export PYSPARK_PYTHON="$PWD/.venv/bin/python"
    echo "ci: Spark tests enabled ($(.venv/bin/python -c 'import pyspark; print("pyspark", pyspark.__version__)'))"
}
_segment_spark_setup || echo "ci: the spark extra or Java could not be installed; the Spark tests will skip"

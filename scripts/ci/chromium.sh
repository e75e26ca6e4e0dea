# Sourced by .ci/run: make headless Chromium available for the report rendering test.
# Never fails the CI run: without Chromium that one test skips with its reason.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "ci: installing Debian's chromium for the report rendering test"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "ci: could not install chromium; the rendering test will skip"
    else
        echo "ci: chromium not installed and cannot install it here; the rendering test will skip"
    fi
fi
if command -v chromium >/dev/null 2>&1; then
    export CHROMIUM="$(command -v chromium)"
fi

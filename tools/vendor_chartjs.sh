#!/bin/sh
# Vendor Chart.js (MIT) into fishgate/bundled/web: the one browser library the season
# charts need, shipped inside the package so `fishgate report` pages and the review
# desk work offline. Usage: tools/vendor_chartjs.sh [VERSION]   (default 4.6.1)
# Needs npm (it fetches the published tarball and checks its integrity); then run the
# report tests (tests/test_report.py) and commit the three files it names.
set -eu

version=${1:-4.6.1}
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/fishgate/bundled/web"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "chart.js@$version" >/dev/null
tar -xzf "chart.js-$version.tgz" package/package.json package/LICENSE.md package/dist/chart.umd.min.js
got=$(node -p 'require("./package/package.json").version')
if [ "$got" != "$version" ]; then
    echo "vendor_chartjs: asked for chart.js $version, npm gave $got" >&2
    exit 1
fi
if grep -qi '</script' package/dist/chart.umd.min.js; then
    echo "vendor_chartjs: chart.umd.min.js contains '</script' and cannot be inlined in a page" >&2
    exit 1
fi

cp package/dist/chart.umd.min.js "$dest/chart.umd.min.js"
cp package/LICENSE.md "$dest/chart.js-LICENSE.md"
sum=$(sha256sum "$dest/chart.umd.min.js" | cut -d' ' -f1)
# the README names the version and checksum of what is vendored
sed -i -e "s/^- Chart.js version: .*/- Chart.js version: $version/" \
    -e "s/^- sha256 of chart.umd.min.js: .*/- sha256 of chart.umd.min.js: $sum/" "$dest/README.md"
echo "vendored chart.js $version: $dest/chart.umd.min.js ($(wc -c <"$dest/chart.umd.min.js") bytes, sha256 $sum)"
echo "commit: fishgate/bundled/web/chart.umd.min.js fishgate/bundled/web/chart.js-LICENSE.md fishgate/bundled/web/README.md"

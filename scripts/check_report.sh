#!/usr/bin/env bash
# Check by hand that the P&L report renders: write it from a journal, open it in headless
# Chromium (offline, file://), save a screenshot, and look at it.
#
# Usage:
#   scripts/check_report.sh [JOURNAL] [OUT.html] [SCREENSHOT.png]
#
#   JOURNAL      a journal file; without it, a 20 s simulator session is recorded first into
#                /tmp/check-report-journal.sqlite (engine.toml with pnl_interval = "15s",
#                so there are P&L candles to chart)
#   OUT.html     default /tmp/report.html
#   SCREENSHOT   default /tmp/report.png
#
# Needs Chromium (Debian: apt-get install chromium); the test tests/report/test_browser.py runs
# the same check automatically when it is installed and is skipped otherwise.
#
# What to look at in the screenshot: the header cards (fills, rejections, symbols, incidents,
# realized P&L); an equity curve per account with labelled axes; the P&L by symbol table with a
# Total row; the fills, rejections and connection incidents tables. Any markup inside a
# rejection reason must show as text. Then open OUT.html in a browser with the network off:
# nothing is missing (no fonts, scripts or images are fetched).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
journal="${1:-}"
out="${2:-/tmp/report.html}"
png="${3:-/tmp/report.png}"

chromium="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$chromium" ]]; then
    echo "check_report: Chromium not found (Debian: apt-get install chromium)" >&2
    exit 2
fi

if [[ -z "$journal" ]]; then
    journal=/tmp/check-report-journal.sqlite
    config="$(mktemp /tmp/check-report-XXXXXX.toml)"
    rm -f "$journal" "$journal-wal" "$journal-shm"
    # engine.toml with its journal redirected and P&L candles every 15 s.
    "$python" - "$root/engine.toml" "$config" "$journal" <<'EOF'
import sys
source, target, journal = sys.argv[1:]
text = open(source, encoding="utf-8").read()
text = text.replace("[journal]\n", f'[journal]\npath = "{journal}"\n', 1)
text = text.replace('[[accounts]]\nid = "SIM-001"\n', '[[accounts]]\nid = "SIM-001"\npnl_interval = "15s"\n', 1)
open(target, "w", encoding="utf-8").write(text)
EOF
    echo "check_report: recording a 20 s simulator session into $journal"
    (cd "$root" && "$root/.venv/bin/aries-engine" run "$config" --duration 20 --log-level warning)
    rm -f "$config"
fi

"$python" - "$journal" "$out" <<'EOF'
import sys
from pathlib import Path
from engine.report import write_report
print("check_report:", write_report(Path(sys.argv[1]), Path(sys.argv[2])).describe())
EOF

profile="$(mktemp -d /tmp/check-report-chromium-XXXXXX)"
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --disable-gpu --no-sandbox --hide-scrollbars \
    --user-data-dir="$profile" --screenshot="$png" --window-size=1280,1600 \
    "file://$(realpath "$out")" >/dev/null 2>&1

size="$(stat -c %s "$png" 2>/dev/null || echo 0)"
if [[ "$size" -le 0 ]]; then
    echo "check_report: no screenshot was written" >&2
    exit 1
fi
echo "check_report: screenshot $png ($size bytes); open it and check it looks right"

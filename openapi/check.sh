#!/usr/bin/env bash
# Checks the committed OpenAPI document with the standard tools: openapi-spec-validator (PyPI) and the recommended
# ruleset of @redocly/cli (npm). No rule is switched off. Installs both when missing.
set -euo pipefail
cd "$(dirname "$0")"
DOC=tessera.openapi.json
python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
openapi-spec-validator "$DOC"
if [ ! -x node_modules/.bin/redocly ]; then
  npm install --silent --no-audit --no-fund --prefix . @redocly/cli@2 >/dev/null
fi
# --max-problems 0 would hide nothing; warnings fail too.
node_modules/.bin/redocly lint "$DOC" --extends=recommended --format=stylish 2>&1 | grep -v -e '║' -e '╔' -e '╚' | tee /tmp/redocly.out
! grep -Eq '(warning|error) ' /tmp/redocly.out

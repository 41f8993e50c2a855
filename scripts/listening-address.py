"""Prints the address from the 'protond is listening' line of a JSON-format protond log, or
nothing when the line is not there yet. Used by scripts/quickstart.sh and
scripts/conformance/run.sh while they wait for the server they started."""

import json
import sys

for line in open(sys.argv[1]):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "protond is listening":
        print(fields["address"])
        break

"""Check a STIX 2.1 bundle as others will read it: the OASIS validator finds no error, the stix2 library parses
every object, and every reference (created_by_ref, object_marking_refs, object_refs, source_ref, target_ref)
names an object of the bundle. Prints a JSON summary; exits 1 on the first problem, saying what it is."""
import json
import sys

import stix2
from stix2validator import ValidationOptions, validate_file

path = sys.argv[1]
results = validate_file(path, ValidationOptions(version="2.1"))
errors = [str(e) for r in results.object_results for e in r.errors]
if not results.is_valid or errors:
    print(json.dumps({"valid": False, "errors": errors[:20]}))
    sys.exit(1)
bundle = stix2.parse(open(path, encoding="utf-8").read(), allow_custom=True)
ids = {o.id for o in bundle.objects}
missing = []
for o in bundle.objects:
    for key, value in o.items():
        refs = value if key.endswith("_refs") else [value] if key.endswith("_ref") else []
        missing += [f"{o.id}.{key} -> {r}" for r in refs if r not in ids]
if missing:
    print(json.dumps({"valid": True, "unresolved": missing[:20]}))
    sys.exit(1)
types = {}
for o in bundle.objects:
    types[o.type] = types.get(o.type, 0) + 1
print(json.dumps({"valid": True, "objects": len(bundle.objects), "types": types}))

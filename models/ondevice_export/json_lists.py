"""JSON as the tensor models' training scripts write it: indented, but each list of numbers (an image,
a frame, a probability row) on one line, so the files stay small and their diffs readable."""
import json
import re

NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][-+0-9.eE]*(?:,\s*-?[0-9][-+0-9.eE]*)*)\s*\]")


def write_json_lists(path, value):
    text = json.dumps(value, indent=1)
    text = NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    with open(path, "w") as f:
        f.write(text + "\n")

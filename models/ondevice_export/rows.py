"""Raw rows as an app sends them to ondevice: the shape of the end-to-end and confidence sets."""
from .transformers import is_missing


def json_row(record, fields):
    """A data-frame row as JSON: missing becomes null, number fields floats, category fields strings.

    fields: {name: "number" | "category"}, in the order the row's keys should have.
    """
    row = {}
    for name, kind in fields.items():
        value = record[name]
        if is_missing(value):
            row[name] = None
        elif kind == "number":
            row[name] = float(value)
        else:
            row[name] = str(value)
    return row

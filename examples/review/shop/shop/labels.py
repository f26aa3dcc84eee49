"""Labels printed on parcels."""
import sys  # planted: I001
import os


def FormatLabel(name, street, town):  # planted: N802
    return "%s\n%s\n%s" % (name, street, town)  # planted: UP031


def label_width() -> int:
    width: str = os.environ.get("LABEL_WIDTH", "40")
    return width  # planted: return-value


def is_long(text: str) -> bool:
    if len(text) > 40:  # planted: SIM103
        return True
    else:
        return False


def warn(text: str) -> None:
    print("warning: this label is too long to be printed on the standard parcel sticker:", text, file=sys.stderr)  # planted: E501

"""Grammar-aware Hypothesis strategies for Postfix configuration text.

They compose the line kinds that matter to ``readllines()``: heads, continuation
lines led by any C whitespace (incl. \\f and \\v), comments and blank lines inside
values, CRLF endings, a missing final newline, ``#``/``=`` inside values, non-UTF-8
bytes (as surrogate escapes), NUL and a BOM.
"""

from __future__ import annotations

from hypothesis import strategies as st

NAMES = ["relayhost", "myhostname", "mydestination", "smtpd_banner", "mynetworks",
         "alias_maps", "smtp_sasl_auth_enable", "x_custom", "a1"]
LEAD_WS = st.sampled_from([" ", "  ", "\t", "    ", "\f", "\v", " \t"])
VALUE_CHARS = st.sampled_from([*"abc.,:[]$={}# -_", "\udce9", "\udcff", "é", "\t"])
EOL = st.sampled_from(["\n", "\r\n"])

names = st.sampled_from(NAMES)
values = st.text(VALUE_CHARS, max_size=12)


@st.composite
def main_cf_line(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["head", "head", "head", "cont", "comment", "icomment",
                                 "blank", "wsblank", "noeq", "weird"]))
    name = draw(names)
    if kind == "head":
        sep = draw(st.sampled_from([" = ", "=", " =", "= ", "\t=\t", "  =  "]))
        return name + sep + draw(values)
    if kind == "cont":
        return draw(LEAD_WS) + draw(st.sampled_from(["x", "b.example,", "relayhost = y", "#no", "="])) \
            + draw(values)
    if kind == "comment":
        return "#" + draw(st.sampled_from(["", " ", "\t"])) + draw(st.sampled_from(
            ["", "note", name + " = old", "  cont"]))
    if kind == "icomment":
        return draw(LEAD_WS) + "# indented"
    if kind == "blank":
        return ""
    if kind == "wsblank":
        return draw(LEAD_WS)
    if kind == "noeq":
        return name + " junk"
    return draw(st.sampled_from(["= value", "\ufeffmyhostname = bom", "a\0b = c", "x = 1\0tail",
                                 "my hostname = x", "foo.bar = 1"]))


@st.composite
def main_cf_text(draw: st.DrawFn, *, valid_only: bool = False) -> str:
    lines = draw(st.lists(main_cf_line(), max_size=14))
    if valid_only:
        lines = [ln for ln in lines if not any(bad in ln for bad in ("junk", "= value", "my hostname"))]
    eols = [draw(EOL) for _ in lines]
    text = "".join(ln + e for ln, e in zip(lines, eols, strict=True))
    if text and draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text

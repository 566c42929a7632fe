"""User- and file-supplied text, made safe for Streamlit's Markdown.

Everything Streamlit draws as text (``st.markdown``, ``st.error``/``warning``/``info``/``success``,
``st.toast``, ``st.caption``, ``st.subheader``, widget labels, ``help`` tooltips, ``st.table``
cells) is GitHub-flavoured Markdown with Streamlit's own additions: ``:red[...]`` colours,
``:material/icon:`` and emoji shortcodes, ``$...$`` LaTeX. A person's name, a file name, a note
or an error message that quotes one of them would be read as Markdown: ``![x](http://...)``
makes the browser fetch a URL of the sender's choosing, ``[x](http://...)`` is a link, ``# x``
a heading. :func:`plain` turns any such string into Markdown that shows exactly its text.

Where a widget that shows plain text fits (``st.text``, ``st.code``, ``st.dataframe`` cells,
``st.json``), use it instead; use :func:`plain` for a string inside Markdown, and :func:`code` for
one shown as inline code (a folder, a setting). Plotly reads its own pseudo-HTML (``<b>``,
``<a href>``, ``<br>``) in every label: :func:`plotly_text` is for names in charts.
"""
from __future__ import annotations

import html
import re
import string
import unicodedata

# CommonMark: any ASCII punctuation character may be backslash-escaped, and an escaped one is
# always its literal self. Escaping all of them covers CommonMark, GFM (tables ``|``, strikethrough
# ``~``, autolinks ``www.``/``http://``/``a@b.c``) and Streamlit's syntaxes (``:``, ``[``, ``$``).
_ESCAPED = re.compile("([" + re.escape(string.punctuation) + "])")
# Whitespace runs (after control characters became spaces) are one space, so a name cannot end a
# line and start a heading, list, table or code block.
_SPACES = re.compile(r"\s+")
# Two of Streamlit's Markdown steps run on the parsed text, after the backslashes are gone: GFM's
# autolinks (``http://x``, ``www.x``, ``a@b.c`` become links) and the ``:streamlit:`` shortcode. An
# invisible, zero-width word joiner after each ``:`` and ``@`` and between ``www`` and its ``.``
# keeps those patterns from matching; it shows nothing and does not let a line break there.
WORD_JOINER = "\u2060"
_JOINED = re.compile(r"(\\[:@])|(www)(?=\\\.)", re.IGNORECASE)


def _controls_to_spaces(text: str) -> str:
    """Control characters (newline, tab, NUL...) and the Unicode line and paragraph separators as
    spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)


def _join(match: re.Match) -> str:
    return (match.group(1) or match.group(2)) + WORD_JOINER


def _flat(text: object) -> str:
    return "" if text is None else _SPACES.sub(" ", _controls_to_spaces(str(text))).strip()


def plain(text: object) -> str:
    """``text`` (``str()`` of any object; ``None`` is empty) as Markdown that Streamlit shows as
    exactly that text: every ASCII punctuation character backslash-escaped, line breaks, tabs and
    other control characters as single spaces (and none at either end), and a word joiner
    (:data:`WORD_JOINER`) where an autolink or shortcode could start. What a browser shows is
    ``text`` with its whitespace collapsed; a copy holds the invisible word joiners too.

    >>> plain("# Ann*")
    '\\\\# Ann\\\\*'
    """
    return _JOINED.sub(_join, _ESCAPED.sub(r"\\\1", _flat(text)))


def code(text: object) -> str:
    """``text`` as a Markdown inline code span, shown literally in a monospace font: fenced by
    more backticks than any run inside it (CommonMark), on one line, a word joiner after each
    colon.

    >>> code("a `b` c")
    '``a `b` c``'
    """
    # Streamlit rewrites ``:material/x:`` even inside code spans: a word joiner after each colon
    # (invisible) keeps it from matching there too.
    flat = _flat(text).replace(":", ":" + WORD_JOINER)
    if not flat:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat[0] == "`" or flat[-1] == "`" else ""  # CommonMark strips one space each side
    return f"{fence}{pad}{flat}{pad}{fence}"


def plotly_text(text: object) -> str:
    """``text`` for a Plotly label, legend or hover text, shown as it is: ``&``, ``<`` and ``>`` as
    entities (Plotly draws ``<b>``, ``<i>``, ``<br>`` and ``<a href>`` in any text), on one line."""
    return html.escape(_flat(text), quote=False)

"""Babel, the only module that imports it: the catalogs the bot answers in, and numbers written as each
language writes them.

The catalogs are the .po files under voicebot/locales (`pybabel extract` and `pybabel update` keep them
in step with voicebot/core/replies.py); they are compiled in memory as the bot starts, so nothing compiled
is committed or can go stale."""
import functools
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from voicebot.core.replies import Languages, Wording

LOCALES = Path(__file__).resolve().parents[1] / "locales"
DOMAIN = "voicebot"


def load_languages(locales: Path = LOCALES) -> Languages:
    """A Wording for every catalog there is (English, the source texts, always)."""
    return Languages(Wording(path.parent.parent.name, _compiled(path),
                             functools.partial(_number, path.parent.parent.name))
                     for path in sorted(locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def _compiled(path: Path) -> Translations:
    with path.open("rb") as source:
        catalog = read_po(source, locale=path.parent.parent.name, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)   # fuzzy entries are left out, as pybabel compile leaves them
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _number(locale: str, value: float, decimals: int = 0) -> str:
    pattern = "#,##0." + "0" * decimals if decimals else "#,##0"
    return format_decimal(value, format=pattern, locale=locale)

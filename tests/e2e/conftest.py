"""What the end-to-end tests share: a Bot API sandbox for the bot under test (a module may keep one for all
its tests by defining its own module-scoped `sandbox`)."""
import pytest

from voicebot.sandbox import BotApiSandbox

from botprocess import TOKEN


@pytest.fixture
def sandbox():
    with BotApiSandbox(TOKEN) as running:
        yield running


@pytest.fixture
def database(tmp_path) -> str:
    """A SQLite database of the test's own (a module may define its own `database`)."""
    return f"sqlite:///{tmp_path / 'bot.db'}"

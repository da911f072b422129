"""voicebot: a self-hosted Telegram bot that turns voice messages into text."""

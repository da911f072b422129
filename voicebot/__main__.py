"""`python -m voicebot`: the same as the `voicebot` console script."""
import sys

from voicebot.app.cli import main

sys.exit(main())

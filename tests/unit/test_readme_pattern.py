"""The pattern tests/README.md shows runs as it stands: its example test is run here, so it cannot go stale."""
import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_example_in_the_tests_readme_runs():
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    namespace: dict = {}
    exec(compile(example, str(README), "exec"), namespace)
    tests = [function for name, function in namespace.items() if name.startswith("test_")]
    assert tests, "the example defines no test"
    for test in tests:
        test()

"""What the inventory learns for the shared context: contracts and conventions (pure)."""

from __future__ import annotations

from callsheet.review.config import ProjectConfig
from callsheet.review.contracts import contracts, module_names
from callsheet.review.conventions import conventions


def test_a_module_is_known_by_its_dotted_path_and_without_src() -> None:
    assert module_names("pkg/sub/m.py") == ["pkg.sub.m"]
    assert module_names("pkg/__init__.py") == ["pkg"]
    assert module_names("src/pkg/m.py") == ["src.pkg.m", "pkg.m"]


def test_contracts_name_the_public_signatures_and_who_uses_each() -> None:
    texts = {
        "pkg/__init__.py": "",
        "pkg/api.py": "def add(a, b=0):\n    return a + b\n\ndef _private():\n    pass\n"
        "class Box:\n    def put(self, x): ...\n",
        "pkg/direct.py": "from pkg.api import add\nadd(1)\n",
        "pkg/sub/rel.py": "from ..api import Box\nBox()\n",
        "pkg/alias.py": "import pkg.api as api\napi.add(2)\n",
        "pkg/frommod.py": "from pkg import api\napi.Box()\n",
        "pkg/unused.py": "import pkg.api\n",
        "pkg/broken.py": "def (:\n",
    }
    found = contracts(texts)
    api = found["pkg/api.py"]
    assert api["functions"] == {
        "Box": "class Box()",
        "Box.put": "def Box.put(self, x)",
        "add": "def add(a, b=0)",
    }
    assert api["used_by"] == {
        "Box": ["pkg/frommod.py", "pkg/sub/rel.py"],
        "add": ["pkg/alias.py", "pkg/direct.py"],
    }
    assert "pkg/broken.py" not in found and "pkg/__init__.py" not in found


def test_conventions_come_from_the_configuration_first_then_from_the_code() -> None:
    texts = {
        "app/main.py": "import logging\nfrom app import util\n\nlog = logging.getLogger(__name__)\n"
        "\n\ndef run_it(x):\n    log.info('running %s', x)\n    return {'a': 'b'}\n"
        "\n\nclass Runner:\n    pass\n",
        "app/util.py": "def helper():\n    return 'x'\n\n\ndef camelCase():\n    return 'it''s'\n",
        "tests/test_main.py": "def test_it():\n    print('in a test')\n",
    }
    found = conventions(texts, ["tests/test_main.py"], ProjectConfig())
    assert found["quotes"]["value"] == "single" and found["quotes"]["double"] == 0
    assert found["naming"]["functions"] == "snake_case" and found["naming"]["other_functions"] == 1
    assert found["naming"]["classes"] == "CapWords"
    assert found["output"] == {"value": "logging", "logging": 1, "print": 0}  # tests left out
    assert found["imports"]["from_absolute"] == 1 and found["imports"]["relative"] == 0
    assert found["line_length"]["value"] == 88 and found["line_length"]["measured"] < 88
    assert found["target_python"]["value"] == "unknown"
    configured = conventions(texts, [], ProjectConfig(line_length=100, target_version="py311"))
    assert configured["line_length"]["value"] == 100
    assert configured["target_python"] == {
        "value": "py311",
        "source": "the project's configuration",
    }
    assert configured["output"]["print"] == 1  # the test file counts when not named a test

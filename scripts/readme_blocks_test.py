#!/usr/bin/env python3
"""Tests of scripts/readme_blocks.py (run by scripts/readme-check.sh)."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import readme_blocks  # noqa: E402

DOC = """# Title

```sh
echo one
```

```sh norun
never-run
```

```text
not shell
```

~~~bash
echo two
```
still inside the tilde block
~~~

````shell
echo three
```
echo still three
````

```toml
x = 1
```

```sh
listen = "127.0.0.1:8231"
strongroom server --listen 127.0.0.1:8232 &
```
"""


class Blocks(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".md")
        with os.fdopen(fd, "w") as f:
            f.write(DOC)

    def tearDown(self):
        os.unlink(self.path)

    def run_tool(self, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "readme_blocks.py"), self.path, *args],
                              check=True, capture_output=True, text=True).stdout

    def test_only_shell_blocks_without_norun_run(self):
        runs = readme_blocks.runnable(self.path)
        self.assertEqual([start for start, _ in runs], [4, 16, 22, 32])
        text = "\n".join("\n".join(body) for _, body in runs)
        self.assertNotIn("never-run", text)
        self.assertNotIn("not shell", text)
        self.assertNotIn("x = 1", text)
        self.assertIn("still inside the tilde block", text)  # a ``` line does not close ~~~
        self.assertIn("echo still three", text)              # nor a shorter fence

    def test_script_and_line_map(self):
        mapfile = self.path + ".map"
        script = self.run_tool("--map", mapfile).split("\n")
        with open(mapfile) as f:
            mapping = dict(tuple(map(int, line.split())) for line in f)
        os.unlink(mapfile)
        self.assertEqual(script[0], 'cd "$README_REPO"')
        self.assertEqual(script[1], "readme_block 1 4")
        doc = DOC.split("\n")
        for script_line, md_line in mapping.items():
            self.assertEqual(script[script_line - 1], doc[md_line - 1])

    def test_ports(self):
        self.assertEqual(self.run_tool("--ports").strip(), "8231 8232")

    def test_unclosed_block_is_an_error(self):
        with open(self.path, "a") as f:
            f.write("```sh\necho open\n")
        with self.assertRaises(SystemExit):
            list(readme_blocks.blocks(self.path))


if __name__ == "__main__":
    unittest.main()

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


SERVER_DOC = r"""# Server

```sh server
rm -f /tmp/x.log
cargo run --release -- server --dev \
  --listen 127.0.0.1:8233
```

```sh
! strongroom key describe alias/none
! cat <<'JSON'
! not a command
JSON
! strongroom encrypt \
  --key k
echo "! not at the start"
```

```sh norun
# not run in CI: needs systemd as PID 1
systemctl start strongroom
```
"""


class Markers(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".md")
        with os.fdopen(fd, "w") as f:
            f.write(SERVER_DOC)

    def tearDown(self):
        os.unlink(self.path)

    def run_tool(self, *args, check=True):
        return subprocess.run([sys.executable, os.path.join(HERE, "readme_blocks.py"), self.path, *args],
                              check=check, capture_output=True, text=True)

    def script(self):
        mapfile = self.path + ".map"
        out = self.run_tool("--map", mapfile).stdout.split("\n")
        with open(mapfile) as f:
            mapping = dict(tuple(map(int, line.split())) for line in f)
        os.unlink(mapfile)
        return out, mapping

    def test_server_block_runs_in_the_background_and_is_waited_for(self):
        out, _ = self.script()
        i = out.index("readme_block 1 4")
        self.assertEqual(out[i + 1], "{")
        self.assertEqual(out[i + 2], "rm -f /tmp/x.log")
        self.assertEqual(out[i + 3], "strongroom server --dev \\")  # cargo run --release -- is the binary
        self.assertEqual(out[i + 5], '} > "$README_WORK/server-1.log" 2>&1 &')
        self.assertEqual(out[i + 6], 'readme_server_wait $! 8233 "$README_WORK/server-1.log"')
        self.assertEqual(self.run_tool("--ports").stdout.strip(), "8233")

    def test_negated_commands_are_checked_after_their_last_line(self):
        out, mapping = self.script()
        checks = [k for k, line in enumerate(out, 1) if line == "readme_must_fail $?"]
        self.assertEqual(len(checks), 3, out)
        # each check comes right after the whole command, and maps to its `!` line
        self.assertEqual(out[checks[0] - 2], "! strongroom key describe alias/none")
        self.assertEqual(out[checks[1] - 2], "JSON")
        self.assertEqual(out[checks[2] - 2], "  --key k")
        self.assertEqual([mapping[c] for c in checks], [10, 11, 14])
        self.assertNotEqual(out[out.index('echo "! not at the start"')], "readme_must_fail $?")

    def test_norun_needs_a_reason_in_strict_mode(self):
        self.assertEqual(self.run_tool("--norun", "--strict").stdout.strip(),
                         f"{self.path}:20: not run: needs systemd as PID 1")
        with open(self.path, "a") as f:
            f.write("\n```sh norun\nno reason\n```\n")
        r = self.run_tool("--norun", "--strict", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(":25: a norun block must say why", r.stderr)
        self.assertEqual(self.run_tool("--norun").returncode, 0)  # README: not strict


if __name__ == "__main__":
    unittest.main()

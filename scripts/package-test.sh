#!/usr/bin/env bash
# Tests the Debian package on this machine (root; Debian 12): builds it
# (scripts/package-deb.sh), then
#  1. dpkg -i; checks the user, the files, modes and owners, the man pages and
#     completions; systemd-analyze verify (and an offline security score) of
#     the units; dpkg --purge leaves nothing (no data was written);
#  2. dpkg -i again; runs the INSTALLED binary with the INSTALLED example
#     config as the strongroom user, under the unit's restrictions that work
#     without systemd (MemoryDenyWriteExecute via PR_SET_MDWE, LimitCORE=0,
#     UMask=0077, NoNewPrivileges: scripts/mdwe-exec.py), with a TLS
#     certificate made the way docs/PRODUCTION.md says; init, unseal, a key,
#     encrypt/decrypt, a backup and its drill; checks the files it made are
#     the strongroom user's only; then dpkg -r (config kept) and
#     dpkg --purge (config gone, the key database kept, as postrm says).
# It refuses to run where a strongroom package or /var/lib/strongroom
# already exists that it did not make, and removes what it made on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ "$(id -u)" != 0 ]; then
  echo "package-test: skipped: dpkg -i needs root" >&2
  exit 0
fi
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }
if dpkg-query -W -f='${Status}' strongroom 2>/dev/null | grep -q 'installed'; then
  fail "a strongroom package is already installed here; remove it first (dpkg --purge strongroom)"
fi
[ -e /var/lib/strongroom ] && fail "/var/lib/strongroom exists (someone's keys?); move it away first"

deb=$(scripts/package-deb.sh | tail -n 1)
echo "==> package: $deb ($(du -h "$deb" | cut -f1))"

work=$(mktemp -d /tmp/strongroom-package-test.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  dpkg --purge strongroom >/dev/null 2>&1 || true
  rm -rf /var/lib/strongroom /etc/strongroom "$work"
  getent passwd strongroom >/dev/null && deluser --quiet --system strongroom >/dev/null 2>&1 || true
  getent group strongroom >/dev/null && delgroup --quiet --system strongroom >/dev/null 2>&1 || true
}
trap cleanup EXIT

mode_owner() { stat -c '%a %U:%G' "$1"; }
expect() { # expect WHAT ACTUAL EXPECTED
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
  echo "    ok: $1 = $3"
}

echo "==> 1. install, check, verify the units, purge"
dpkg -i "$deb" >/dev/null
getent passwd strongroom | grep -q ':/var/lib/strongroom:/usr/sbin/nologin$' || fail "no strongroom system user with nologin"
[ "$(id -u strongroom)" -lt 1000 ] || fail "strongroom is not a system user"
expect "/usr/bin/strongroom" "$(mode_owner /usr/bin/strongroom)" "755 root:root"
expect "/var/lib/strongroom" "$(mode_owner /var/lib/strongroom)" "700 strongroom:strongroom"
expect "/etc/strongroom" "$(mode_owner /etc/strongroom)" "750 root:strongroom"
expect "/etc/strongroom/strongroom.toml" "$(mode_owner /etc/strongroom/strongroom.toml)" "640 root:strongroom"
dpkg-query -W -f='${Conffiles}\n' strongroom | grep -q /etc/strongroom/strongroom.toml || fail "strongroom.toml is not a conffile"
for f in /usr/share/man/man1/strongroom.1.gz /usr/share/man/man1/strongroom-operator-init.1.gz \
         /usr/share/bash-completion/completions/strongroom /usr/share/zsh/vendor-completions/_strongroom \
         /usr/share/fish/vendor_completions.d/strongroom.fish /usr/share/doc/strongroom/PRODUCTION.md \
         /usr/share/doc/strongroom/copyright /lib/systemd/system/strongroom.service \
         /lib/systemd/system/strongroom-backup.service /lib/systemd/system/strongroom-backup.timer; do
  [ -s "$f" ] || fail "$f is missing from the package"
done
zcat /usr/share/man/man1/strongroom.1.gz | grep -q '^\.TH strongroom' || fail "strongroom.1 is not a man page"
cmp <(/usr/bin/strongroom completion bash) /usr/share/bash-completion/completions/strongroom || fail "bash completion differs"
bash -n /usr/share/bash-completion/completions/strongroom || fail "bash completion does not parse"
echo "    ok: user, files, man pages, completions"
systemd-analyze verify --man=no /lib/systemd/system/strongroom.service \
  /lib/systemd/system/strongroom-backup.service /lib/systemd/system/strongroom-backup.timer \
  || fail "systemd-analyze verify"
echo "    ok: systemd-analyze verify (3 units)"
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  score=$(systemd-analyze security --offline=yes /lib/systemd/system/strongroom.service 2>/dev/null \
    | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  echo "    systemd-analyze security --offline: exposure $score (0 = locked down, 10 = none)"
  awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' || fail "exposure level $score above 2.0"
fi
dpkg --purge strongroom >/dev/null
[ ! -e /usr/bin/strongroom ] && [ ! -e /etc/strongroom ] && [ ! -e /var/lib/strongroom ] \
  || fail "purge left files behind"
getent passwd strongroom >/dev/null && fail "purge with no data left the strongroom user"
echo "    ok: purge removed the binary, /etc/strongroom, the empty /var/lib/strongroom and the user"

echo "==> 2. install, run the installed server with the example config, remove, purge"
dpkg -i "$deb" >/dev/null
# TLS as docs/PRODUCTION.md says: key readable by group strongroom only.
install -d -o root -g strongroom -m 0750 /etc/strongroom/tls
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout /etc/strongroom/tls/key.pem -out /etc/strongroom/tls/cert.pem -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -addext basicConstraints=critical,CA:FALSE 2>/dev/null
chgrp strongroom /etc/strongroom/tls/key.pem /etc/strongroom/tls/cert.pem
chmod 0640 /etc/strongroom/tls/key.pem
chmod 0644 /etc/strongroom/tls/cert.pem
# The example listens on 8200; a free port here, through the documented override.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd /var/lib/strongroom
STRONGROOM_LISTEN=127.0.0.1:$port python3 "$repo/scripts/mdwe-exec.py" --user strongroom -- \
  /usr/bin/strongroom server --config /etc/strongroom/strongroom.toml >"$work/server.log" 2>&1 &
server_pid=$!
cd "$repo"
export STRONGROOM_ADDR=https://127.0.0.1:$port STRONGROOM_CACERT=/etc/strongroom/tls/cert.pem
for _ in $(seq 1 100); do
  /usr/bin/strongroom operator status >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the installed server exited"; }
  sleep 0.1
done
/usr/bin/strongroom -o json operator init --shares 3 --threshold 2 >"$work/init.json"
for i in 0 1; do jq -r ".shares[$i]" "$work/init.json" | /usr/bin/strongroom operator unseal >/dev/null; done
export STRONGROOM_TOKEN=$(jq -r .root_token "$work/init.json")
/usr/bin/strongroom key create --alias alias/package-test >/dev/null
ct=$(/usr/bin/strongroom encrypt --key alias/package-test --plaintext "from the package")
expect "decrypt under MDWE" "$(/usr/bin/strongroom decrypt --ciphertext "$ct")" "from the package"
# The backup identity of docs/PRODUCTION.md, and a backup and drill with its token.
cat > "$work/backup-policy.json" <<'JSON'
{"name": "backup", "statements": [{"effect": "Allow", "actions": ["strongroom:Backup"], "resources": ["*"]}]}
JSON
/usr/bin/strongroom policy put --file "$work/backup-policy.json" >/dev/null
/usr/bin/strongroom identity create backup-job --role auditor --policy backup >/dev/null
backup_token=$(/usr/bin/strongroom -o json token create --identity backup-job | jq -r .token)
STRONGROOM_TOKEN=$backup_token /usr/bin/strongroom backup create --out "$work/drill.backup" >/dev/null
STRONGROOM_TOKEN=$backup_token /usr/bin/strongroom backup drill "$work/drill.backup" >/dev/null
STRONGROOM_TOKEN=$backup_token /usr/bin/strongroom decrypt --ciphertext "$ct" >/dev/null 2>&1 \
  && fail "the backup identity could decrypt"
echo "    ok: init, unseal, key, encrypt/decrypt, backup and drill as the backup identity (which cannot decrypt)"
kill -0 "$server_pid" || fail "the server died"
grep -qi 'panic' "$work/server.log" && fail "the server log has a panic"
# Every file the server made: the strongroom user's, and no one else's to read.
while read -r f; do
  expect "$f" "$(stat -c '%U %A' "$f")" "strongroom -rw-------"
done < <(find /var/lib/strongroom -type f)
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
dpkg -r strongroom >/dev/null
[ ! -e /usr/bin/strongroom ] || fail "dpkg -r left /usr/bin/strongroom"
[ -e /etc/strongroom/strongroom.toml ] || fail "dpkg -r removed the conffile (only purge should)"
echo "    ok: dpkg -r removed the binary and kept the config"
dpkg --purge strongroom 2>"$work/purge.err" >/dev/null
[ ! -e /etc/strongroom/strongroom.toml ] || fail "purge left the config"
[ -e /var/lib/strongroom/strongroom.db ] || fail "purge deleted the key database"
grep -q 'kept /var/lib/strongroom' "$work/purge.err" || fail "purge did not say it kept the data"
echo "    ok: purge removed the config and kept the key database (as documented)"
echo "package-test: OK"

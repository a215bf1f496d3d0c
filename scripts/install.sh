#!/usr/bin/env bash
# Install or upgrade Campus Edge Agent as a systemd service on Debian or
# Raspberry Pi OS, from a built checkout:
#
#   npm ci && npm run build && sudo scripts/install.sh [--no-start] [--root DIR]
#
# Why a copy of the checkout rather than `npm ci --omit=dev` in /opt or a packed
# tarball: the checkout's `npm ci` already compiled better-sqlite3 for this
# machine's node (about 100 s on a Pi), so the install downloads and compiles
# nothing. It copies dist/, package.json, package-lock.json and node_modules to a
# staging folder, prunes node_modules to the production dependencies there
# (`npm prune --omit=dev --offline --no-save`), checks the result (better-sqlite3
# loads, `campus-agent --version` runs), and only then replaces /opt/campus-agent.

# What it creates (README, "Installing on a gateway"):
#   user and group campus-agent (system, no login shell, home /var/lib/campus-agent, in dialout)
#   /opt/campus-agent                        the application, root-owned; replaced as a whole on upgrade
#   /usr/local/bin/campus-agent              -> /opt/campus-agent/bin/campus-agent (scripts/bin/: dist/agent/cli.js
#                                            with /usr/bin/node and the service's environment file)
#   /etc/campus-agent/                       0750 root:campus-agent
#   /etc/campus-agent/config.yaml            from config/examples/minimal.yaml, only if absent (0640 root:campus-agent)
#   /etc/campus-agent/environment            secrets for the service, only if absent (0640 root:campus-agent)
#   /var/lib/campus-agent/                   0750 campus-agent:campus-agent: outbox, state, control socket
#   /etc/systemd/system/campus-agent.service from scripts/systemd/, enabled and started
#
# Running it again changes nothing; running it from a newer checkout replaces
# the application and the unit, restarts the service, and never touches
# config.yaml, environment or what is in /var/lib/campus-agent. An upgrade whose
# new version rejects a config that the installed version accepts is refused
# before anything is changed.
#
# Options:
#   --no-start   install and stop there: no systemctl (no daemon-reload, enable, start or restart)
#   --root DIR   install under DIR (an image, or a scratch root in tests): every path is
#                prefixed with DIR, users are created in DIR/etc with useradd/groupadd
#                --prefix, and systemctl is not run. DIR/etc/passwd and DIR/etc/group must exist.
set -euo pipefail
umask 022
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly USER_NAME=campus-agent
readonly APP=/opt/campus-agent
readonly ETC=/etc/campus-agent
readonly CONFIG=$ETC/config.yaml
readonly ENVFILE=$ETC/environment
readonly STATE=/var/lib/campus-agent
readonly UNIT=/etc/systemd/system/campus-agent.service
readonly COMMAND=/usr/local/bin/campus-agent
readonly NODE=/usr/bin/node
readonly NOLOGIN=/usr/sbin/nologin

say() { printf 'install: %s\n' "$*"; }
die() {
  printf 'install: error: %s\n' "$*" >&2
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

root=""
start=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --no-start) start=no ;;
    --root)
      [ $# -ge 2 ] || die "--root needs a directory"
      root=$2
      shift
      ;;
    --root=*) root=${1#--root=} ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
  shift
done

# ------------------------------------------------------------ preflight: nothing is changed here

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
R=""
prefix=()
if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a directory"
  R=$(cd "$root" && pwd)
  [ "$R" != / ] || R=""
fi
if [ -n "$R" ]; then
  if [ ! -f "$R/etc/passwd" ] || [ ! -f "$R/etc/group" ]; then die "--root $R has no etc/passwd and etc/group"; fi
  prefix=(--prefix "$R")
fi

for f in dist/agent/cli.js package.json package-lock.json node_modules scripts/bin/campus-agent scripts/systemd/campus-agent.service \
  config/examples/minimal.yaml; do
  [ -e "$src/$f" ] || die "$src/$f is missing: run this from a built checkout (npm ci && npm run build)"
done
# tsc rewrites every output on each build: a source newer than the build means a pull without a build.
for d in agent drivers config scripts; do
  if [ -d "$src/$d" ] && [ -n "$(find "$src/$d" -name '*.ts' -newer "$src/dist/agent/cli.js" -print -quit)" ]; then
    die "dist/ is older than the sources in $src/$d: run npm run build first"
  fi
done
[ -x "$NODE" ] || die "no $NODE: install Node.js 20 or later (Debian 13's nodejs, or NodeSource's nodejs package on Debian 12 and Raspberry Pi OS)"
node_version=$("$NODE" --version)
node_major=${node_version#v}
node_major=${node_major%%.*}
[ "$node_major" -ge 20 ] || die "$NODE is $node_version; the agent needs Node.js 20 or later (Debian 13's nodejs, or NodeSource's)"
for tool in npm useradd groupadd usermod sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if [ -n "$R" ]; then say "installing under $R (every path below is relative to it; no systemctl)"; fi
say "from $src, with node $node_version ($NODE)"

stage=$(mktemp -d "${TMPDIR:-/tmp}/campus-agent-install.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# The application, staged: built code, production dependencies, the command.
cp -a "$src/dist" "$src/package.json" "$src/package-lock.json" "$stage/"
mkdir -p "$stage/config" "$stage/bin" "$stage/node_modules"
cp -a "$src/config/examples" "$src/config/config.schema.json" "$stage/config/"
# What npm put there, without tools' caches (node_modules/.vite and the like).
for entry in "$src"/node_modules/* "$src"/node_modules/.bin "$src"/node_modules/.package-lock.json; do
  if [ -e "$entry" ]; then cp -a "$entry" "$stage/node_modules/"; fi
done
if ! out=$(cd "$stage" && npm prune --omit=dev --offline --no-save --no-audit --no-fund --loglevel=error 2>&1); then
  die "npm prune --omit=dev failed in the staged copy: $out"
fi
cp "$src/scripts/bin/campus-agent" "$stage/bin/campus-agent"
chown -R 0:0 "$stage"
chmod -R u+rwX,go=rX "$stage"
chmod 0755 "$stage/bin/campus-agent"
if ! out=$("$NODE" -e 'const D = require(process.argv[1]); new D(":memory:").close()' "$stage/node_modules/better-sqlite3" 2>&1); then
  die "better-sqlite3 does not load with $NODE ($node_version): run npm ci with this node, then npm run build. $out"
fi
version=$("$stage/bin/campus-agent" --version) || die "the staged campus-agent --version failed"
say "app: staged campus-edge-agent $version: production dependencies only, better-sqlite3 loads, campus-agent --version runs"

# A listing of every path with type, mode, owner and link target, and a hash of every file.
manifest() {
  (
    cd "$1"
    find . -printf '%y %m %U:%G %p -> %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  )
}
app_changed=yes
installed_version=""
if [ -d "$R$APP" ]; then
  installed_version=$("$NODE" -p 'require(process.argv[1]).version' "$R$APP/package.json" 2>/dev/null || true)
  if [ "$(manifest "$stage")" = "$(manifest "$R$APP")" ]; then app_changed=no; fi
fi

# `campus-agent config check` as the service would run it: a clean environment
# plus the service's environment file (which bin/campus-agent reads).
config_check() {
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CAMPUS_AGENT_ENVIRONMENT_FILE="$R$ENVFILE" \
    "$1/bin/campus-agent" config check "$R$CONFIG" 2>&1
}
config_ok=""
if [ -f "$R$CONFIG" ]; then
  if check=$(config_check "$stage"); then
    config_ok=yes
    say "config: ${check#"$R"}"
  else
    config_ok=no
    if [ "$app_changed" = yes ] && [ -n "$installed_version" ] && config_check "$R$APP" >/dev/null; then
      printf '%s\n' "$check" >&2
      die "refused: campus-edge-agent $version rejects $CONFIG, which the installed $installed_version accepts (problems above); nothing was changed. Fix the config, then run this again."
    fi
    say "config: $CONFIG has problems; the service will not start until they are fixed:"
    printf '%s\n' "$check" | sed 's/^/install:   /'
  fi
fi

# ------------------------------------------------------------ changes

id_of() { awk -F: -v n="$2" '$1 == n { print $3 }' "$R/etc/$1"; }
in_group() { awk -F: -v g="$1" -v u="$2" '$1 == g { n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) f = 1 } END { exit !f }' "$R/etc/group"; }

if [ -z "$(id_of group "$USER_NAME")" ]; then
  groupadd --system ${prefix[@]+"${prefix[@]}"} "$USER_NAME"
  say "group $USER_NAME: created (gid $(id_of group "$USER_NAME"))"
else
  say "group $USER_NAME: exists (gid $(id_of group "$USER_NAME"))"
fi
groups=()
if [ -n "$(id_of group dialout)" ]; then groups=(--groups dialout); fi
if [ -z "$(id_of passwd "$USER_NAME")" ]; then
  useradd --system ${prefix[@]+"${prefix[@]}"} --gid "$USER_NAME" ${groups[@]+"${groups[@]}"} --home-dir "$STATE" --no-create-home \
    --shell "$NOLOGIN" --comment "Campus Edge Agent" "$USER_NAME"
  say "user $USER_NAME: created (uid $(id_of passwd "$USER_NAME"), home $STATE, shell $NOLOGIN${groups[*]:+, in dialout})"
else
  say "user $USER_NAME: exists (uid $(id_of passwd "$USER_NAME"))"
fi
if [ -z "$(id_of group dialout)" ]; then
  say "group dialout: missing: the agent cannot open serial ports (RS-485) until $USER_NAME is in the group that owns them"
elif in_group dialout "$USER_NAME"; then
  say "group dialout: $USER_NAME is a member (serial ports)"
else
  usermod ${prefix[@]+"${prefix[@]}"} --append --groups dialout "$USER_NAME"
  say "group dialout: $USER_NAME added (serial ports)"
fi
uid=$(id_of passwd "$USER_NAME")
gid=$(id_of group "$USER_NAME")

# A directory with this mode and owner, created if missing; what is inside is left alone.
# With "keep", a wrong owner is left for systemd: when the state directory's own owner
# is not the unit's User/Group, StateDirectory= chowns it and everything in it at start.
directory() { # path mode uid gid label fix|keep
  local path=$R$1
  if [ ! -d "$path" ]; then
    mkdir -p "$path"
    chown "$3:$4" "$path"
    chmod "$2" "$path"
    say "$1: created ($2 $5)"
  elif [ "$(stat -c '%a %u %g' "$path")" = "${2#0} $3 $4" ]; then
    say "$1: exists ($2 $5)"
  elif [ "$6" = fix ] || [ "$(stat -c '%u %g' "$path")" = "$3 $4" ]; then
    chown "$3:$4" "$path"
    chmod "$2" "$path"
    say "$1: mode and owner set ($2 $5)"
  else
    chmod "$2" "$path"
    say "$1: owned by $(stat -c '%u:%g' "$path"), left so: systemd gives it and its contents to $5 when the service starts"
  fi
}
directory "$ETC" 0750 0 "$gid" "root:$USER_NAME" fix
directory "$STATE" 0750 "$uid" "$gid" "$USER_NAME:$USER_NAME" keep

if [ "$app_changed" = no ]; then
  say "$APP: campus-edge-agent $version, unchanged"
else
  mkdir -p "$R$(dirname "$APP")"
  rm -rf "$R$APP.new" "$R$APP.old"
  cp -a "$stage" "$R$APP.new"
  if [ -e "$R$APP" ]; then mv "$R$APP" "$R$APP.old"; fi
  mv "$R$APP.new" "$R$APP"
  rm -rf "$R$APP.old"
  say "$APP: campus-edge-agent $version installed${installed_version:+ (was $installed_version)}"
fi

# A relative link, so that it resolves inside --root as well.
link=../../../opt/campus-agent/bin/campus-agent
if [ "$(readlink "$R$COMMAND" 2>/dev/null || true)" = "$link" ]; then
  say "$COMMAND: exists (-> $APP/bin/campus-agent)"
else
  mkdir -p "$R$(dirname "$COMMAND")"
  ln -sfn "$link" "$R$COMMAND"
  say "$COMMAND: linked to $APP/bin/campus-agent"
fi

config_created=no
if [ -e "$R$CONFIG" ]; then
  say "$CONFIG: kept as it is"
else
  install -m 0640 -o 0 -g "$gid" "$src/config/examples/minimal.yaml" "$R$CONFIG"
  config_created=yes
  say "$CONFIG: created from config/examples/minimal.yaml (0640 root:$USER_NAME): edit it"
fi
if [ -e "$R$ENVFILE" ]; then
  say "$ENVFILE: kept as it is"
else
  (
    umask 0137
    cat >"$R$ENVFILE" <<'EOF'
# Environment of campus-agent.service (EnvironmentFile=): KEY=value lines, for
# secrets the config names with password_env. Mode 0640 root:campus-agent.
# The service reads it when it starts: systemctl restart campus-agent after a change.
#CAMPUS_AGENT_MQTT_PASSWORD=
EOF
  )
  chown "0:$gid" "$R$ENVFILE"
  say "$ENVFILE: created (0640 root:$USER_NAME): put the broker password in it (CAMPUS_AGENT_MQTT_PASSWORD=...)"
fi

unit_changed=no
if cmp -s "$src/scripts/systemd/campus-agent.service" "$R$UNIT"; then
  say "$UNIT: unchanged"
else
  if [ -e "$R$UNIT" ]; then what=updated; else what=installed; fi
  mkdir -p "$R$(dirname "$UNIT")"
  install -m 0644 -o 0 -g 0 "$src/scripts/systemd/campus-agent.service" "$R$UNIT"
  unit_changed=yes
  say "$UNIT: $what"
fi

# ------------------------------------------------------------ the service

if [ -n "$R" ]; then
  say "service: systemctl not run (--root)"
elif [ "$start" = no ]; then
  say "service: systemctl not run (--no-start); to start it: systemctl daemon-reload && systemctl enable --now campus-agent"
elif [ ! -d /run/systemd/system ]; then
  say "service: systemd is not running here; systemctl not run"
else
  if [ "$unit_changed" = yes ]; then
    systemctl daemon-reload
    say "service: systemctl daemon-reload"
  fi
  if [ "$config_created" = yes ] || [ "$config_ok" != yes ]; then
    systemctl enable --quiet campus-agent.service
    say "service: enabled, not started: edit $CONFIG and $ENVFILE, check with campus-agent config check, then: systemctl start campus-agent"
  else
    if [ "$app_changed" = yes ] || [ "$unit_changed" = yes ]; then
      systemctl try-restart campus-agent.service
      say "service: restarted if it was running (new application or unit)"
    fi
    systemctl enable --quiet --now campus-agent.service
    say "service: enabled and $(systemctl is-active campus-agent.service || true)"
  fi
fi
say "done: campus-edge-agent $version"

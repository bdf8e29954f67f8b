#!/bin/sh
# fleet agent installer.
#
#   curl -fsSL -k --pinnedpubkey sha256//… https://SERVER:8443/install.sh | sudo sh -s -- --token fj1_…
#
# Downloads fleet-agent from the fleet server (checking the server's CA against the fingerprint
# in the join token, then every download against the published sha256 sums), enrolls this
# machine, and runs the agent under systemd, OpenRC or, failing both, a background loop.
# Running it again is safe: it changes only what differs, and nothing at all when the same
# version is installed and running. Run with --help for the options.
#
# The fleet server serves this file at /install.sh with the three defaults at the top of main()
# filled in. Everything happens inside main(), called on the last line, so that a download cut
# short runs nothing.

main() {
	set -eu
	# Filled in by the fleet server; a value still starting with two underscores was not.
	default_url='__FLEET_URL__'
	default_grpc_port='__FLEET_GRPC_PORT__'
	default_version='__FLEET_VERSION__'

	umask 022
	tmp=
	tmp_file=
	trap cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 141' PIPE

	read_environment
	parse_args "$@"
	# Every tool needed from here to the end, checked before anything changes: finding one missing
	# after enrolling would spend a use of the join token and leave an offline node behind.
	need_tools
	if [ "$(id -u)" != 0 ]; then
		die "run as root (curl … | sudo sh -s -- …)"
	fi
	check_inputs
	detect_arch
	detect_init
	set_paths

	tmp=$(mktemp -d "${TMPDIR:-/tmp}/fleet-install.XXXXXX") || die "cannot create a temporary directory"
	: >"$tmp/manifest"
	enrolled=
	if [ -f "$root$state_dir/node.json" ]; then
		enrolled=yes
	fi
	choose_pin
	if [ -n "$enrolled" ] && [ -n "$new_identity" ]; then
		warn "--new-identity only matters when enrolling, and this machine is enrolled already (in $root$state_dir); to enroll it as a new node, uninstall first ($root$uninstaller)"
	fi
	if [ -z "$enrolled" ] && [ -z "$token" ]; then
		die "this machine is not enrolled yet: pass a join token with --token fj1_… (from 'fleet tokens create')"
	fi

	# First contact: the CA certificate, fetched without verification and checked against the pin.
	info "Checking the fleet server at $base_url"
	fetch insecure /ca.crt "$tmp/ca.crt" "the fleet CA certificate"
	server_ca=$(ca_hash "$tmp/ca.crt") || die "$base_url/ca.crt is not a PEM certificate"
	if [ "$server_ca" != "$pin" ]; then
		die "the server's CA sha256:$server_ca does not match the pin sha256:$pin (wrong server, or someone in between)"
	fi
	if [ -z "$enrolled" ] && [ "$token_ca" != "$server_ca" ]; then
		die "the join token is for the CA sha256:$token_ca, but this server's CA is sha256:$server_ca (a token from another server?)"
	fi

	# From here on every request is verified TLS against that CA.
	fetch verified "/agent/$version/sha256sums.txt" "$tmp/sha256sums.txt" "the checksums of fleet-agent $version"
	asset=fleet-agent-linux-$arch
	sum_raw=$(sum_for "$asset")
	sum_gz=$(sum_for "$asset.gz")
	if [ -z "$sum_raw" ]; then
		die "the server's sha256sums.txt for $version lists no $asset (no linux-$arch build of fleet-agent $version?)"
	fi

	generate_files
	installed_sum=
	if [ -f "$root$bin" ]; then
		installed_sum=$(sha_of "$root$bin")
	fi
	if up_to_date; then
		if [ -z "$manage" ]; then
			info "fleet-agent $version is already installed under $root; nothing changed"
			exit 0
		elif is_running; then
			enable_if_needed
			info "fleet-agent $version is already installed and running; nothing changed"
			exit 0
		elif [ -n "$skip_start" ]; then
			info "fleet-agent $version is already installed (not running: --skip-start); nothing changed"
			exit 0
		fi
	fi

	changed=
	if [ "$installed_sum" != "$sum_raw" ]; then
		download_agent
	fi
	install_files
	if [ -z "$enrolled" ]; then
		enroll
	fi
	install_service
	activate
	summary
}

# ---------------------------------------------------------------------------------------------
# Messages

info() {
	printf '%s\n' "$*"
}

warn() {
	printf 'fleet install: warning: %s\n' "$*" >&2
}

die() {
	printf 'fleet install: %s\n' "$*" >&2
	exit 1
}

usage_error() {
	printf 'fleet install: %s\nRun with --help for the options.\n' "$*" >&2
	exit 2
}

cleanup() {
	if [ -n "$tmp_file" ]; then
		rm -f "$tmp_file"
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}

# A placeholder the server did not fill in counts as unset.
filled() {
	case $1 in
	__*) printf '' ;;
	*) printf '%s' "$1" ;;
	esac
}

usage() {
	d_url=$(filled "$default_url")
	d_version=$(filled "$default_version")
	d_port=$(filled "$default_grpc_port")
	cat <<EOF
fleet agent installer: installs fleet-agent, enrolls this machine and starts the agent.

Usage:
  curl -fsSL -k --pinnedpubkey sha256//… https://SERVER:8443/install.sh | sudo sh -s -- --token fj1_…
  sudo sh install.sh --url https://SERVER:8443 --token fj1_… [options]

Options (each also read from the environment variable in brackets; options win):
  --url URL           the fleet server's https address, scheme://host:port [FLEET_URL]
                      (default: ${d_url:-none, required})
  --token TOKEN       join token from 'fleet tokens create'; needed only while this machine is
                      not enrolled yet [FLEET_TOKEN]
  --token-file FILE   read the join token from FILE [FLEET_TOKEN_FILE]
  --ca-pin sha256:HEX fingerprint of the fleet CA to expect [FLEET_CA_PIN]
                      (default: the one in the join token, else the CA of an earlier install)
  --version VERSION   agent version to install [INSTALL_FLEET_VERSION]
                      (default: ${d_version:-none, required})
  --server URL        the server address the agent connects to [FLEET_SERVER]
                      (default: https://HOST:${d_port:-7443}, HOST from --url)
  --name NAME         node name to ask for at enrollment [FLEET_NODE_NAME]
  --label KEY=VALUE   label to ask for at enrollment; repeatable
                      [FLEET_LABELS, comma-separated: k1=v1,k2=v2]
  --new-identity      enroll as a new node even if this machine's hardware matches an offline
                      node (by default a reinstalled machine takes its node back: same name,
                      labels and history) [INSTALL_FLEET_NEW_IDENTITY=1]
  --bin-dir DIR       where the binaries go (default: /opt/fleet/bin) [INSTALL_FLEET_BIN_DIR]
  --init SYSTEM       systemd, openrc or none (default: detected) [INSTALL_FLEET_INIT]
  --skip-enable       do not enable the service at boot [INSTALL_FLEET_SKIP_ENABLE=1]
  --skip-start        install and enroll, but do not start the agent [INSTALL_FLEET_SKIP_START=1]
  --root DIR          install everything under DIR, for tests and image building
                      [INSTALL_FLEET_ROOT]
  -h, --help          show this help

Files: BIN_DIR/fleet-agent, BIN_DIR/fleet-agent-launch, BIN_DIR/fleet-agent-uninstall.sh,
/etc/fleet/{agent.env,ca.crt,install-manifest}, /var/lib/fleet-agent (the agent's state), and
the systemd unit /etc/systemd/system/fleet-agent.service or /etc/init.d/fleet-agent.
Remove them all with: sudo BIN_DIR/fleet-agent-uninstall.sh (it also takes the node out of the
fleet; --keep-node leaves it listed, for a reinstall of this machine to take it over).
EOF
}

# ---------------------------------------------------------------------------------------------
# Inputs

# "" and 0/false/no are false, anything else is true.
truthy() {
	case $1 in
	'' | 0 | false | FALSE | False | no | NO | No) printf '' ;;
	*) printf 1 ;;
	esac
}

read_environment() {
	url=${FLEET_URL:-}
	token=${FLEET_TOKEN:-}
	token_file=${FLEET_TOKEN_FILE:-}
	ca_pin=${FLEET_CA_PIN:-}
	version=${INSTALL_FLEET_VERSION:-}
	skip_start=$(truthy "${INSTALL_FLEET_SKIP_START:-}")
	skip_enable=$(truthy "${INSTALL_FLEET_SKIP_ENABLE:-}")
	new_identity=$(truthy "${INSTALL_FLEET_NEW_IDENTITY:-}")
	bin_dir=${INSTALL_FLEET_BIN_DIR:-}
	server=${FLEET_SERVER:-}
	node_name=${FLEET_NODE_NAME:-}
	labels=${FLEET_LABELS:-}
	root=${INSTALL_FLEET_ROOT:-}
	init=${INSTALL_FLEET_INIT:-}
}

parse_args() {
	label_flags=
	while [ $# -gt 0 ]; do
		opt=$1
		has_value=
		case $opt in
		--*=*)
			value=${opt#*=}
			opt=${opt%%=*}
			has_value=1
			;;
		esac
		case $opt in
		-h | --help)
			usage
			exit 0
			;;
		--skip-start | --skip-enable | --new-identity)
			if [ -n "$has_value" ]; then
				usage_error "$opt takes no value"
			fi
			case $opt in
			--skip-start) skip_start=1 ;;
			--skip-enable) skip_enable=1 ;;
			--new-identity) new_identity=1 ;;
			esac
			;;
		--url | --token | --token-file | --ca-pin | --version | --server | --name | --label | --bin-dir | --root | --init)
			if [ -z "$has_value" ]; then
				if [ $# -lt 2 ]; then
					usage_error "$opt needs a value"
				fi
				value=$2
				shift
			fi
			case $opt in
			--url) url=$value ;;
			--token)
				token=$value
				token_file=
				;;
			--token-file)
				token_file=$value
				token=
				;;
			--ca-pin) ca_pin=$value ;;
			--version) version=$value ;;
			--server) server=$value ;;
			--name) node_name=$value ;;
			--label) label_flags=$label_flags,$value ;;
			--bin-dir) bin_dir=$value ;;
			--root) root=$value ;;
			--init) init=$value ;;
			esac
			;;
		-*) usage_error "unknown option: $opt" ;;
		*) usage_error "unexpected argument: $opt" ;;
		esac
		shift
	done
	if [ -n "$label_flags" ]; then
		labels=${label_flags#,}
	fi
}

is_hex64() {
	case $1 in
	*[!0-9a-f]*) return 1 ;;
	esac
	[ ${#1} -eq 64 ]
}

# Values go into agent.env, which both systemd and sh read: no quotes, backslashes, dollars,
# backticks or line breaks.
check_value() {
	case $2 in
	*[\"\\\$\`]* | *"
"*) die "$1 must not contain quotes, backslashes, \$, \` or line breaks: $2" ;;
	esac
}

# Paths end up in the unit file unquoted: keep them plain.
check_path() {
	case $2 in
	/*) ;;
	*) die "$1 must be an absolute path: $2" ;;
	esac
	case $2 in
	*[!A-Za-z0-9._/+@:-]*) die "$1 may only contain letters, digits and . _ / + @ : -: $2" ;;
	esac
}

check_inputs() {
	# The join token (the only secret here; never printed).
	if [ -z "$token" ] && [ -n "$token_file" ]; then
		if [ ! -r "$token_file" ]; then
			die "cannot read the token file $token_file"
		fi
		token=$(cat "$token_file")
	fi
	token=$(printf '%s' "$token" | tr -d ' \t\r\n')
	token_ca=
	if [ -n "$token" ]; then
		if ! printf '%s\n' "$token" | grep -Eq '^fj1_[0-9a-f]{12}_[0-9a-f]{40}_[0-9a-f]{64}$'; then
			die "malformed join token: expected fj1_<12 hex>_<40 hex>_<64 hex>; copy it whole from 'fleet tokens create'"
		fi
		token_ca=${token##*_}
	fi

	if [ -n "$ca_pin" ]; then
		p=$(printf '%s' "$ca_pin" | tr '[:upper:]' '[:lower:]')
		p=${p#sha256:}
		if ! is_hex64 "$p"; then
			die "malformed CA pin '$ca_pin': expected sha256:<64 hex digits> (the CA fingerprint fleet-server prints)"
		fi
		ca_pin=$p
	fi

	if [ -z "$url" ]; then
		url=$(filled "$default_url")
	fi
	if [ -z "$url" ]; then
		die "no server address: pass --url https://SERVER:8443 (the address install.sh is served from)"
	fi
	parse_url "$url"

	grpc_port=$(filled "$default_grpc_port")
	grpc_port=${grpc_port:-7443}
	case $grpc_port in
	'' | *[!0-9]*) die "bad gRPC port in this script: $grpc_port" ;;
	esac

	if [ -z "$version" ]; then
		version=$(filled "$default_version")
	fi
	if [ -z "$version" ]; then
		die "no agent version: pass --version X.Y.Z"
	fi
	case $version in
	*[!A-Za-z0-9.+_-]* | .*) die "bad agent version: $version" ;;
	esac

	bin_dir=${bin_dir:-/opt/fleet/bin}
	check_path "the bin dir" "$bin_dir"
	while :; do
		case $bin_dir in
		?*/) bin_dir=${bin_dir%/} ;;
		*) break ;;
		esac
	done
	if [ "$bin_dir" = / ]; then
		die "the bin dir cannot be /"
	fi

	while :; do
		case $root in
		*/) root=${root%/} ;;
		*) break ;;
		esac
	done
	if [ -n "$root" ]; then
		check_path "the root" "$root"
	fi

	case $init in
	'' | systemd | openrc | none) ;;
	*) die "unknown init system '$init': use systemd, openrc or none" ;;
	esac

	server=${server:-https://$host:$grpc_port}
	check_value "the server address" "$server"
	check_value "the node name" "$node_name"
	rest=$labels
	while [ -n "$rest" ]; do
		label=${rest%%,*}
		case $rest in
		*,*) rest=${rest#*,} ;;
		*) rest= ;;
		esac
		case $label in
		?*=*) ;;
		*) die "bad label '$label': expected KEY=VALUE (and no commas)" ;;
		esac
		check_value "a label" "$label"
	done
}

# Splits https://HOST[:PORT][/…] into host (IPv6 kept in brackets), port and base_url.
parse_url() {
	case $1 in
	https://*) ;;
	http://*) die "the server URL must be https://, not http:// ($1): the installer only talks to the fleet server over TLS" ;;
	*) die "the server URL must start with https:// ($1)" ;;
	esac
	hostport=${1#https://}
	hostport=${hostport%%/*}
	hostport=${hostport%%\?*}
	hostport=${hostport%%#*}
	case $hostport in
	*@*) die "the server URL must not contain a user name: $1" ;;
	\[*\]) host=$hostport port=443 ;;
	\[*\]:*)
		host=${hostport%%]*}]
		port=${hostport##*]:}
		;;
	\[*) die "bad IPv6 address in the server URL: $1" ;;
	*:*:*) die "put an IPv6 address in brackets: https://[ADDRESS]:PORT ($1)" ;;
	*:*)
		host=${hostport%%:*}
		port=${hostport#*:}
		;;
	*) host=$hostport port=443 ;;
	esac
	h=${host#\[}
	h=${h%]}
	case $h in
	'' | *[!A-Za-z0-9.:%_-]*) die "bad host in the server URL: $1" ;;
	esac
	case $port in
	'' | *[!0-9]*) die "bad port in the server URL: $1" ;;
	esac
	if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
		die "bad port in the server URL: $1"
	fi
	base_url=https://$host:$port
}

# The tools this script, the launcher and the uninstaller run (coreutils or busybox have them all).
# setsid, timeout and gzip are used when they are there; nohup is not used at all (busybox may
# lack it): the background loop ignores SIGHUP itself.
need_tools() {
	for t in curl sha256sum base64 awk grep tr sort mktemp uname id cat cp mv rm ln chmod mkdir rmdir readlink sleep date env; do
		if ! command -v "$t" >/dev/null 2>&1; then
			case $t in
			curl) die "curl is missing: install it (apt-get install curl, dnf install curl, apk add curl) and run again; nothing was changed" ;;
			*) die "$t is missing: install coreutils (or busybox) and run again; nothing was changed" ;;
			esac
		fi
	done
}

detect_arch() {
	m=$(uname -m)
	case $m in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported architecture $m: fleet-agent is built for x86_64 and aarch64 only" ;;
	esac
}

detect_init() {
	if [ -z "$init" ]; then
		if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			init=systemd
		elif [ -z "$root" ] && [ -x /sbin/openrc-run ] && command -v rc-update >/dev/null 2>&1; then
			init=openrc
		else
			init=none
		fi
	fi
	# With --root and a real init system the files are written for a system image: they name
	# the paths as they will be at run time, and nothing is started here.
	manage=yes
	if [ -n "$root" ] && [ "$init" != none ]; then
		manage=
	fi
	if [ -n "$manage" ]; then
		case $init in
		systemd)
			if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
				die "--init systemd, but systemd is not running here: use --init none (or --root DIR to prepare a system image)"
			fi
			;;
		openrc)
			if ! command -v rc-service >/dev/null 2>&1 || ! command -v rc-update >/dev/null 2>&1; then
				die "--init openrc, but rc-service or rc-update is missing"
			fi
			;;
		esac
	fi
}

# Paths as the running system sees them; files are written at "$root$path". run_root prefixes
# the paths written into files: the same as root when the agent runs from there (init none),
# empty for an image (--root with systemd or openrc).
set_paths() {
	run_root=
	if [ "$init" = none ]; then
		run_root=$root
	fi
	bin=$bin_dir/fleet-agent
	launcher=$bin_dir/fleet-agent-launch
	uninstaller=$bin_dir/fleet-agent-uninstall.sh
	etc_dir=/etc/fleet
	env_file=$etc_dir/agent.env
	ca_file=$etc_dir/ca.crt
	manifest=$etc_dir/install-manifest
	state_dir=/var/lib/fleet-agent
	unit_file=/etc/systemd/system/fleet-agent.service
	openrc_file=/etc/init.d/fleet-agent
	pid_file=/var/run/fleet-agent.pid
	log_file=/var/log/fleet-agent.log
}

# pin: the CA hash the server must present; from --ca-pin, else the join token, else the CA
# this machine already trusts from an earlier installation.
choose_pin() {
	pin=
	if [ -n "$ca_pin" ]; then
		pin=$ca_pin
	elif [ -n "$token_ca" ]; then
		pin=$token_ca
	else
		for f in "$root$state_dir/ca.crt" "$root$ca_file"; do
			if [ -f "$f" ] && pin=$(ca_hash "$f"); then
				info "Expecting the fleet CA this machine already trusts ($f)"
				break
			fi
			pin=
		done
	fi
	if [ -z "$pin" ]; then
		die "cannot tell the real server from an impostor: pass --ca-pin sha256:<CA fingerprint> (fleet-server prints it), or a join token with --token"
	fi
}

# ---------------------------------------------------------------------------------------------
# Downloads

# fetch insecure|verified PATH OUT WHAT: GET PATH from the server into OUT. "insecure" is the
# first contact (for /ca.crt only, which is then checked against the pin); "verified" checks
# the server's certificate against that CA for the name fleet-server.
fetch() {
	f_rc=0
	if [ "$1" = verified ]; then
		f_err=$(curl -fsS --connect-timeout 15 --retry 2 --cacert "$tmp/ca.crt" \
			--connect-to "fleet-server:$port:$host:$port" -o "$3" "https://fleet-server:$port$2" 2>&1) || f_rc=$?
	else
		f_err=$(curl -fsS -k --connect-timeout 15 --max-time 60 --retry 2 -o "$3" "$base_url$2" 2>&1) || f_rc=$?
	fi
	if [ "$f_rc" = 0 ]; then
		return 0
	fi
	# curl -S says what went wrong on a line "curl: (N) …" (some errors add advice after it).
	f_err=$(printf '%s\n' "$f_err" | awk '/^curl: \(/ && !first { first = $0 } NF { last = $0 } END { print (first ? first : last) }')
	f_err=${f_err:-curl exit status $f_rc}
	f_hint=
	case $f_rc in
	22)
		case $f_err in
		*404*) f_hint=" (not on this server: is fleet-agent $version published there?)" ;;
		esac
		;;
	35 | 51 | 58 | 59 | 60 | 83 | 90 | 91)
		if [ "$1" = verified ]; then
			f_hint=" (the server's TLS certificate does not check out against its own CA for the name fleet-server)"
		fi
		;;
	esac
	if [ "$1" = insecure ]; then
		die "cannot reach the fleet server at $base_url: $f_err$f_hint"
	fi
	die "cannot download $4 from $base_url$2: $f_err$f_hint"
}

sha_of() {
	sha256sum "$1" | awk '{ print $1 }'
}

# The CA hash: lowercase hex SHA-256 of the DER bytes of the (first) certificate in a PEM file.
ca_hash() {
	awk '/-----BEGIN CERTIFICATE-----/ { inside = 1; next } /-----END CERTIFICATE-----/ { if (inside) exit } inside' "$1" |
		tr -d ' \t\r' >"$tmp/ca.b64"
	if [ ! -s "$tmp/ca.b64" ]; then
		return 1
	fi
	base64 -d <"$tmp/ca.b64" >"$tmp/ca.der" 2>/dev/null || return 1
	if [ ! -s "$tmp/ca.der" ]; then
		return 1
	fi
	sha_of "$tmp/ca.der"
}

# The sha256 listed for a file name in sha256sums.txt (empty when it is not listed).
sum_for() {
	awk -v name="$1" '{ sub(/\r$/, "") } ($2 == name || $2 == "*" name) && length($1) == 64 && $1 ~ /^[0-9a-fA-F]+$/ { print tolower($1); exit }' "$tmp/sha256sums.txt"
}

check_sum() {
	c_got=$(sha_of "$1")
	if [ "$c_got" != "$2" ]; then
		die "checksum mismatch for $3: sha256sums.txt says $2, the download is $c_got (corrupted or tampered with; nothing was installed)"
	fi
}

# Downloads the agent into $tmp/fleet-agent, the gzipped one when gzip is here, and checks it.
download_agent() {
	if [ -n "$sum_gz" ] && command -v gzip >/dev/null 2>&1; then
		info "Downloading fleet-agent $version (linux-$arch.gz)"
		fetch verified "/agent/$version/linux-$arch.gz" "$tmp/fleet-agent.gz" "fleet-agent $version"
		check_sum "$tmp/fleet-agent.gz" "$sum_gz" "$asset.gz"
		gzip -dc "$tmp/fleet-agent.gz" >"$tmp/fleet-agent" || die "cannot decompress the downloaded $asset.gz"
	else
		info "Downloading fleet-agent $version (linux-$arch)"
		fetch verified "/agent/$version/linux-$arch" "$tmp/fleet-agent" "fleet-agent $version"
	fi
	check_sum "$tmp/fleet-agent" "$sum_raw" "$asset"
}

# ---------------------------------------------------------------------------------------------
# The files

generate_files() {
	mkdir "$tmp/gen"
	launcher_text >"$tmp/gen/launch"
	generate_env >"$tmp/gen/env"
	generate_uninstaller >"$tmp/gen/uninstall"
	case $init in
	systemd) generate_unit >"$tmp/gen/service" ;;
	openrc) generate_openrc >"$tmp/gen/service" ;;
	esac
}

env_line() {
	case $2 in
	*[!A-Za-z0-9._:/@,=+%-]*) printf '%s="%s"\n' "$1" "$2" ;;
	*) printf '%s=%s\n' "$1" "$2" ;;
	esac
}

generate_env() {
	echo "# fleet-agent settings, written by the fleet installer (read by the fleet-agent service)"
	env_line FLEET_SERVER "$server"
	env_line FLEET_AGENT_DIR "$run_root$state_dir"
	env_line FLEET_BIN "$run_root$bin"
	if [ -n "$node_name" ]; then
		env_line FLEET_NODE_NAME "$node_name"
	fi
	if [ -n "$labels" ]; then
		env_line FLEET_LABELS "$labels"
	fi
}

generate_unit() {
	cat <<EOF
# fleet-agent: written by the fleet installer; $run_root$uninstaller removes it.
[Unit]
Description=fleet agent
Wants=network-online.target
After=network-online.target
# Never stop restarting: rolling back a bad self-upgrade relies on restarts.
StartLimitIntervalSec=0

[Service]
Type=simple
EnvironmentFile=$run_root$env_file
ExecStart=$run_root$launcher
Restart=always
RestartSec=2
KillMode=mixed

[Install]
WantedBy=multi-user.target
EOF
}

generate_openrc() {
	cat <<EOF
#!/sbin/openrc-run
# fleet-agent: written by the fleet installer; $run_root$uninstaller removes it.

description="fleet agent"
supervisor=supervise-daemon
command="$run_root$launcher"
# Never stop restarting: rolling back a bad self-upgrade relies on restarts.
respawn_delay=2
respawn_max=0
output_log="$run_root$log_file"
error_log="$run_root$log_file"

depend() {
	use net dns
	after firewall
}

# The agent's settings, exported so that supervise-daemon passes them on.
if [ -r "$run_root$env_file" ]; then
	set -a
	. "$run_root$env_file"
	set +a
fi
EOF
}

# Is everything already in place, byte for byte, and the machine enrolled?
up_to_date() {
	[ -n "$enrolled" ] || return 1
	[ "$installed_sum" = "$sum_raw" ] || return 1
	same "$tmp/gen/launch" "$root$launcher" || return 1
	same "$tmp/gen/env" "$root$env_file" || return 1
	same "$tmp/gen/uninstall" "$root$uninstaller" || return 1
	same "$tmp/ca.crt" "$root$ca_file" || return 1
	case $init in
	systemd) same "$tmp/gen/service" "$root$unit_file" || return 1 ;;
	openrc) same "$tmp/gen/service" "$root$openrc_file" || return 1 ;;
	esac
	return 0
}

same() {
	[ -f "$2" ] && [ ! -L "$2" ] && [ "$(sha_of "$1")" = "$(sha_of "$2")" ]
}

# record file|dir|tree PATH: notes a path for the uninstaller (see save_manifest).
record() {
	printf '%s %s\n' "$1" "$2" >>"$tmp/manifest"
}

# make_dir PATH: creates $root$PATH and its missing parents, recording each one it creates.
make_dir() {
	md_path=
	md_rest=${1#/}
	while [ -n "$md_rest" ]; do
		md_path=$md_path/${md_rest%%/*}
		case $md_rest in
		*/*) md_rest=${md_rest#*/} ;;
		*) md_rest= ;;
		esac
		if [ ! -d "$root$md_path" ]; then
			mkdir "$root$md_path" || die "cannot create the directory $root$md_path"
			record dir "$run_root$md_path"
		fi
	done
}

# put SRC PATH MODE: installs SRC as $root$PATH unless it is identical already; atomically
# (a temporary file in the same directory, then rename).
put() {
	record file "$run_root$2"
	p_dest=$root$2
	if same "$1" "$p_dest"; then
		chmod "$3" "$p_dest"
		return 0
	fi
	tmp_file=${p_dest%/*}/.${p_dest##*/}.fleet-tmp.$$
	(umask 077 && cp "$1" "$tmp_file") || die "cannot write $p_dest"
	chmod "$3" "$tmp_file"
	mv -f "$tmp_file" "$p_dest" || die "cannot write $p_dest"
	tmp_file=
	changed="$changed ${2##*/}"
}

# The manifest lists what the installer wrote; the uninstaller removes exactly that. It only
# ever grows, so that files from earlier installations are not forgotten.
save_manifest() {
	record file "$run_root$manifest"
	m_dest=$root$manifest
	if [ -f "$m_dest" ]; then
		cat "$m_dest" "$tmp/manifest" | LC_ALL=C sort -u >"$tmp/manifest.all"
	else
		LC_ALL=C sort -u "$tmp/manifest" >"$tmp/manifest.all"
	fi
	if same "$tmp/manifest.all" "$m_dest"; then
		return 0
	fi
	tmp_file=${m_dest%/*}/.${m_dest##*/}.fleet-tmp.$$
	(umask 077 && cp "$tmp/manifest.all" "$tmp_file") || die "cannot write $m_dest"
	mv -f "$tmp_file" "$m_dest" || die "cannot write $m_dest"
	tmp_file=
}

install_files() {
	if [ -n "$root" ] && [ ! -d "$root" ]; then
		mkdir -p "$root" || die "cannot create $root"
	fi
	make_dir "$bin_dir"
	make_dir "$etc_dir"
	make_dir "$state_dir"
	chmod 0700 "$root$state_dir"
	record tree "$run_root$state_dir"
	case $init in
	none)
		make_dir "${pid_file%/*}"
		make_dir "${log_file%/*}"
		record file "$run_root$pid_file"
		record file "$run_root$log_file"
		;;
	systemd) make_dir "${unit_file%/*}" ;;
	openrc)
		make_dir "${openrc_file%/*}"
		make_dir "${log_file%/*}"
		record file "$run_root$log_file"
		;;
	esac
	# What the agent's self-upgrade leaves next to the binary.
	record file "$run_root$bin.prev"
	record file "$run_root$bin.new"
	save_manifest

	if [ "$installed_sum" != "$sum_raw" ]; then
		put "$tmp/fleet-agent" "$bin" 0755
		# An upgrade the agent had in flight would roll this installation back: forget it.
		rm -f "$root$state_dir/upgrade/pending"
	else
		record file "$run_root$bin"
	fi
	put "$tmp/gen/launch" "$launcher" 0755
	put "$tmp/ca.crt" "$ca_file" 0644
	put "$tmp/gen/env" "$env_file" 0600
	put "$tmp/gen/uninstall" "$uninstaller" 0755
	save_manifest
}

enroll() {
	info "Enrolling with $server"
	set -- "$root$bin" enroll --server "$server" --token "$token"
	if [ -n "$node_name" ]; then
		set -- "$@" --name "$node_name"
	fi
	if [ -n "$new_identity" ]; then
		set -- "$@" --new-identity
	fi
	rest=$labels
	while [ -n "$rest" ]; do
		set -- "$@" --label "${rest%%,*}"
		case $rest in
		*,*) rest=${rest#*,} ;;
		*) rest= ;;
		esac
	done
	e_timeout=
	if command -v timeout >/dev/null 2>&1; then
		e_timeout=120
		set -- timeout "$e_timeout" "$@"
	fi
	e_rc=0
	FLEET_AGENT_DIR=$root$state_dir "$@" </dev/null >"$tmp/enroll.out" 2>"$tmp/enroll.err" || e_rc=$?
	if [ "$e_rc" != 0 ]; then
		reason=$(awk 'NF { line = $0 } END { print line }' "$tmp/enroll.err")
		reason=${reason#fleet-agent: }
		if [ -n "$e_timeout" ] && [ "$e_rc" = 124 ]; then
			reason="no answer from $server within $e_timeout s"
		fi
		# Leave no half-installed agent running.
		stop_agent_quietly
		die "enrollment failed: ${reason:-fleet-agent enroll exited with status $e_rc}"
	fi
	if [ ! -f "$root$state_dir/node.json" ]; then
		die "enrollment failed: fleet-agent enroll succeeded but wrote no $root$state_dir/node.json"
	fi
	e_out=$(awk 'NF { line = $0 } END { print line }' "$tmp/enroll.out")
	if [ -n "$e_out" ]; then
		info "$e_out"
	fi
}

install_service() {
	case $init in
	systemd) put "$tmp/gen/service" "$unit_file" 0644 ;;
	openrc) put "$tmp/gen/service" "$openrc_file" 0755 ;;
	esac
	save_manifest
}

# ---------------------------------------------------------------------------------------------
# The service

is_running() {
	case $init in
	systemd) systemctl is-active --quiet fleet-agent.service ;;
	openrc) rc-service fleet-agent status >/dev/null 2>&1 ;;
	none) supervisor_alive ;;
	esac
}

enable_if_needed() {
	if [ -n "$skip_enable" ]; then
		return 0
	fi
	case $init in
	systemd)
		if ! systemctl is-enabled --quiet fleet-agent.service 2>/dev/null; then
			systemctl enable --quiet fleet-agent.service || die "systemctl enable fleet-agent failed"
			info "Enabled fleet-agent at boot"
		fi
		;;
	openrc)
		if [ ! -e /etc/runlevels/default/fleet-agent ]; then
			rc-update add fleet-agent default >/dev/null || die "rc-update add fleet-agent default failed"
			info "Enabled fleet-agent at boot"
		fi
		;;
	esac
}

stop_agent_quietly() {
	if [ -z "$manage" ]; then
		return 0
	fi
	case $init in
	systemd)
		if [ -f "$unit_file" ]; then
			systemctl stop fleet-agent.service >/dev/null 2>&1 || :
		fi
		;;
	openrc)
		if [ -f "$openrc_file" ]; then
			rc-service fleet-agent stop >/dev/null 2>&1 || :
		fi
		;;
	none) stop_supervisor ;;
	esac
}

activate() {
	started=
	if [ -z "$manage" ]; then
		activate_image
		return 0
	fi
	was_running=
	if is_running; then
		was_running=yes
	fi
	case $init in
	systemd)
		stop_supervisor
		systemctl daemon-reload || die "systemctl daemon-reload failed"
		enable_if_needed
		if [ -z "$skip_start" ]; then
			systemctl restart fleet-agent.service || die "systemctl restart fleet-agent failed; see: journalctl -u fleet-agent"
			started=yes
		fi
		;;
	openrc)
		stop_supervisor
		enable_if_needed
		if [ -z "$skip_start" ]; then
			rc-service fleet-agent restart >/dev/null || die "rc-service fleet-agent restart failed; see $log_file"
			started=yes
		fi
		;;
	none)
		if [ -z "$skip_start" ]; then
			stop_supervisor
			start_supervisor
			started=yes
		fi
		;;
	esac
	if [ -n "$skip_start" ] && [ -n "$was_running" ] && [ -n "$changed" ]; then
		warn "fleet-agent was not restarted (--skip-start): it keeps running the previous files until it is"
	fi
	if [ -n "$started" ]; then
		sleep 2
		if ! is_running; then
			warn "fleet-agent stopped right after starting; see $(log_hint)"
		fi
	fi
}

# --root with systemd or openrc: enable at boot offline; nothing can be started.
activate_image() {
	if [ -n "$skip_enable" ]; then
		return 0
	fi
	case $init in
	systemd)
		link=/etc/systemd/system/multi-user.target.wants/fleet-agent.service
		target=$unit_file
		;;
	openrc)
		link=/etc/runlevels/default/fleet-agent
		target=$openrc_file
		;;
	esac
	make_dir "${link%/*}"
	record file "$link"
	if [ ! -L "$root$link" ]; then
		ln -s "$target" "$root$link" || die "cannot create $root$link"
	fi
	save_manifest
}

log_hint() {
	case $init in
	systemd) printf 'journalctl -u fleet-agent' ;;
	*) printf '%s' "$run_root$log_file" ;;
	esac
}

# The background loop used when there is no init system to run the agent: it restarts the
# launcher 2 s after it exits, forwards TERM to it, and leads its own process group (setsid)
# so that it can be stopped as a unit. It writes its own pid to the pid file ($3).
supervisor_script() {
	cat <<'EOF'
echo "$$" >"$3"
child=
stop=
trap 'stop=1; if [ -n "$child" ]; then kill -s TERM "$child" 2>/dev/null; fi' TERM INT
while [ -z "$stop" ]; do
	(set -a && . "$1" && set +a && exec "$2") </dev/null &
	child=$!
	status=0
	while kill -s 0 "$child" 2>/dev/null; do
		status=0
		wait "$child" || status=$?
	done
	child=
	if [ -z "$stop" ]; then
		echo "$(date '+%Y-%m-%d %H:%M:%S') fleet-agent-supervisor: fleet-agent-launch exited with status $status; restarting in 2 s"
		sleep 2
	fi
done
EOF
}

start_supervisor() {
	rm -f "$root$pid_file"
	if [ ! -e "$root$log_file" ]; then
		(umask 077 && : >>"$root$log_file")
	fi
	s_script=$(supervisor_script)
	s_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	s_setsid=
	if command -v setsid >/dev/null 2>&1; then
		s_setsid=setsid
	fi
	# SIGHUP ignored here is ignored by the loop and the launcher after exec too (what nohup does).
	# shellcheck disable=SC2086 # $s_setsid is one word or none
	(trap '' HUP && exec env -i PATH="$s_path" $s_setsid sh -c "$s_script" fleet-agent-supervisor \
		"$root$env_file" "$root$launcher" "$root$pid_file") </dev/null >>"$root$log_file" 2>&1 &
	n=0
	while [ ! -s "$root$pid_file" ] && [ "$n" -lt 50 ]; do
		sleep 0.1 2>/dev/null || sleep 1
		n=$((n + 1))
	done
	if ! supervisor_alive; then
		stop_supervisor
		die "could not start fleet-agent in the background; see $root$log_file"
	fi
}

supervisor_pid() {
	if [ -f "$root$pid_file" ]; then
		awk 'NR == 1 { gsub(/[^0-9]/, ""); print; exit }' "$root$pid_file"
	fi
}

# Is $1 a live background loop of ours (not some later process that got its pid)?
is_supervisor() {
	kill -s 0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/cmdline" ]; then
		tr '\0' '\n' <"/proc/$1/cmdline" | grep -qx fleet-agent-supervisor
	fi
}

supervisor_alive() {
	s_pid=$(supervisor_pid)
	[ -n "$s_pid" ] && is_supervisor "$s_pid"
}

# Stops the background loop, the launcher and the agent: TERM to the loop (which passes it on),
# then, after 10 s at most, KILL to its whole process group.
stop_supervisor() {
	s_pid=$(supervisor_pid)
	if [ -n "$s_pid" ] && is_supervisor "$s_pid"; then
		info "Stopping the background fleet-agent (pid $s_pid)"
		kill -s TERM "$s_pid" 2>/dev/null || :
		n=0
		while [ "$n" -lt 10 ] && kill -s 0 "$s_pid" 2>/dev/null; do
			sleep 1
			n=$((n + 1))
		done
		kill -s KILL -- "-$s_pid" 2>/dev/null || kill -s KILL "-$s_pid" 2>/dev/null || :
		kill -s KILL "$s_pid" 2>/dev/null || :
		n=0
		while [ "$n" -lt 10 ] && kill -s 0 "$s_pid" 2>/dev/null; do
			sleep 1
			n=$((n + 1))
		done
	fi
	rm -f "$root$pid_file"
}

summary() {
	info ""
	info "fleet-agent $version is installed (linux-$arch)."
	info "  binary:     $root$bin"
	info "  launcher:   $root$launcher"
	info "  settings:   $root$env_file (server $server)"
	info "  CA:         $root$ca_file (sha256:$server_ca)"
	info "  state:      $root$state_dir"
	case $init in
	systemd)
		info "  service:    systemd unit $root$unit_file"
		info "  logs:       journalctl -u fleet-agent"
		;;
	openrc)
		info "  service:    OpenRC service $root$openrc_file"
		info "  logs:       $root$log_file"
		;;
	none)
		info "  logs:       $root$log_file"
		info "  pid file:   $root$pid_file"
		;;
	esac
	if [ -z "$manage" ]; then
		if [ -n "$skip_enable" ]; then
			info "  It was installed for a system image under $root and will not start at boot (--skip-enable)."
		else
			info "  It was installed for a system image under $root; it starts at boot there."
		fi
	elif [ "$init" = none ]; then
		if [ -n "$started" ]; then
			info ""
			info "There is no systemd or OpenRC here (or --init none was asked for), so fleet-agent was"
			info "started in the background. It will NOT start at boot: run this installer again after a"
			info "reboot, or start $root$launcher from your own init system."
		else
			info "  It was not started (--skip-start), and nothing starts it at boot (no systemd or OpenRC)."
		fi
	else
		if [ -n "$skip_enable" ]; then
			s_boot="not enabled at boot (--skip-enable)"
		else
			s_boot="enabled at boot"
		fi
		if [ -n "$started" ]; then
			info "  The service is running and $s_boot."
		else
			info "  The service was not started (--skip-start); it is $s_boot."
		fi
	fi
	info "  uninstall:  sudo $root$uninstaller"
}

# ---------------------------------------------------------------------------------------------
# The uninstaller, written to BIN_DIR/fleet-agent-uninstall.sh with this installation's paths.

generate_uninstaller() {
	cat <<'EOF'
#!/bin/sh
# fleet-agent-uninstall.sh: written by the fleet installer (install.sh) with this machine's paths.
# Stops the fleet agent, tells the fleet server that this node leaves the fleet (unless
# --keep-node), then removes everything the installer wrote (listed in its manifest), the agent's
# state, and the directories the installer created if they are left empty. Running it again is
# harmless.
#
# Run by the agent itself (fleet exec NODE -- …/fleet-agent-uninstall.sh), stopping the agent
# would kill it halfway (under systemd it runs in the agent's own cgroup) and lose the job's
# result. So it hands the work over — to a transient systemd unit, or to a background process —
# and says so; that part waits until the agent has delivered this job's result, then runs.

main() {
	set -u
EOF
	printf "\tinit='%s'\n" "$init"
	printf "\tbin='%s'\n" "$run_root$bin"
	printf "\tbin_dir='%s'\n" "$run_root$bin_dir"
	printf "\tetc_dir='%s'\n" "$run_root$etc_dir"
	printf "\tmanifest='%s'\n" "$run_root$manifest"
	printf "\tstate_dir='%s'\n" "$run_root$state_dir"
	printf "\tpid_file='%s'\n" "$run_root$pid_file"
	printf "\tuninstaller='%s'\n" "$run_root$uninstaller"
	printf "\tuninstall_log='%s'\n" "$run_root/var/log/fleet-agent-uninstall.log"
	u_service=
	case $init in
	systemd) u_service=" $run_root$unit_file" ;;
	openrc) u_service=" $run_root$openrc_file" ;;
	esac
	printf "\tknown_files='%s'\n" "$run_root$bin $run_root$bin.prev $run_root$bin.new $run_root$launcher $run_root$uninstaller $run_root$env_file $run_root$ca_file$u_service $run_root$pid_file $run_root$log_file $run_root$manifest"
	cat <<'EOF'

	keep_node=
	after_pid=
	while [ $# -gt 0 ]; do
		case $1 in
		--keep-node) keep_node=--keep-node ;;
		# Internal: the handed-over part, started by the part the agent ran (process $2).
		--after)
			after_pid=${2:-}
			shift
			;;
		-h | --help)
			echo "Usage: $0 [--keep-node]"
			echo "Stops fleet-agent, tells the fleet server that this node leaves the fleet, and removes"
			echo "everything the installer wrote. --keep-node: do not tell the server, so that the node"
			echo "stays listed (offline) and a reinstall of this machine takes it over."
			exit 0
			;;
		*)
			echo "fleet uninstall: unknown option: $1 (try --help)" >&2
			exit 2
			;;
		esac
		shift
	done

	if [ "$(id -u)" != 0 ]; then
		echo "fleet uninstall: run as root (sudo $0)" >&2
		exit 1
	fi
	if [ -z "$after_pid" ] && run_by_agent; then
		hand_over
		exit $?
	fi
	if [ -n "$after_pid" ]; then
		wait_for_delivery
	fi
	stop_agent
	leave_fleet
	# Read the whole manifest first: it is one of the files to go.
	entries=
	if [ -f "$manifest" ]; then
		entries=$(cat "$manifest")
	fi
	for f in $known_files; do
		remove_file "$f"
	done
	printf '%s\n' "$entries" | while read -r kind path; do
		if [ "$kind" = file ]; then
			remove_file "$path"
		fi
	done
	# Leftovers of an interrupted installation or rollback.
	for f in "$bin_dir"/.*.fleet-tmp.* "$etc_dir"/.*.fleet-tmp.* "$bin_dir"/fleet-agent.rollback.*; do
		if [ -f "$f" ]; then
			remove_file "$f"
		fi
	done
	printf '%s\n' "$entries" | while read -r kind path; do
		if [ "$kind" = tree ] && [ -e "$path" ]; then
			rm -rf "$path" && echo "removed $path/ (the agent's state)"
		fi
	done
	if [ -e "$state_dir" ]; then
		rm -rf "$state_dir" && echo "removed $state_dir/ (the agent's state)"
	fi
	if [ "$init" = systemd ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload 2>/dev/null || :
		systemctl reset-failed fleet-agent.service 2>/dev/null || :
	fi
	# Directories the installer created, deepest first, if nothing else is in them.
	printf '%s\n' "$entries" | awk '$1 == "dir" { print $2 }' | LC_ALL=C sort -r | while read -r d; do
		if [ -d "$d" ] && rmdir "$d" 2>/dev/null; then
			echo "removed $d/"
		fi
	done
	echo "fleet-agent is uninstalled."
}

remove_file() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		rm -f "$1" && echo "removed $1"
	fi
}

# Is this the agent's own doing: inside fleet-agent.service's cgroup, or a descendant of the
# agent's process?
run_by_agent() {
	if [ "$init" = systemd ] && grep -Eq '/fleet-agent\.service(/|$)' /proc/self/cgroup 2>/dev/null; then
		return 0
	fi
	p=$PPID
	while [ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null; do
		case $(readlink "/proc/$p/exe" 2>/dev/null) in
		"$bin" | "$bin (deleted)") return 0 ;;
		esac
		p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
	done
	return 1
}

# Starts the rest of the uninstall where stopping the agent cannot kill it, and says so (this is
# what the job that ran us reports).
hand_over() {
	if [ "$init" = systemd ] && [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
		h_err=$(systemd-run --unit=fleet-agent-uninstall --description="fleet-agent uninstall" --collect --quiet \
			/bin/sh "$uninstaller" --after "$$" $keep_node 2>&1) || {
			echo "fleet uninstall: cannot continue outside fleet-agent.service (systemd-run: $h_err); nothing was changed. Run $uninstaller from a shell on this machine instead." >&2
			return 1
		}
		echo "fleet uninstall: started by the agent, inside fleet-agent.service; the uninstall continues outside fleet-agent.service, as the transient unit fleet-agent-uninstall.service: once this job's result is delivered, it disables and stops fleet-agent, $(what_leaving), and removes every file the installer wrote. Its log: journalctl -u fleet-agent-uninstall"
		return 0
	fi
	# No systemd: a process of its own, which stopping the agent does not touch.
	(trap '' HUP && exec /bin/sh "$uninstaller" --after "$$" $keep_node) </dev/null >>"$uninstall_log" 2>&1 &
	echo "fleet uninstall: started by the agent; the uninstall continues in the background (pid $!): once this job's result is delivered, it stops fleet-agent, $(what_leaving), and removes every file the installer wrote. Its log: $uninstall_log"
}

what_leaving() {
	if [ -n "$keep_node" ]; then
		printf 'keeps the node listed in the fleet (--keep-node)'
	else
		printf 'tells the fleet server that this node leaves the fleet'
	fi
}

# Waits (60 s at most) until the part the agent ran has exited and the agent has delivered every
# job result: its spool holds a job's file until the server has acknowledged the job's end.
wait_for_delivery() {
	n=0
	while [ "$n" -lt 300 ]; do
		if ! kill -s 0 "$after_pid" 2>/dev/null && ! spooled; then
			return 0
		fi
		sleep 0.2 2>/dev/null || sleep 1
		n=$((n + 1))
	done
	echo "fleet uninstall: the agent still holds undelivered job results after 60 s; going on"
}

spooled() {
	for f in "$state_dir"/spool/*.jsonl; do
		if [ -e "$f" ]; then
			return 0
		fi
	done
	return 1
}

stop_agent() {
	case $init in
	systemd)
		if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
			echo "disabling and stopping fleet-agent.service"
			systemctl disable --quiet fleet-agent.service 2>/dev/null || :
			systemctl stop fleet-agent.service 2>/dev/null || :
		fi
		;;
	openrc)
		if command -v rc-update >/dev/null 2>&1; then
			echo "removing fleet-agent from the default runlevel and stopping it"
			rc-update del fleet-agent default >/dev/null 2>&1 || :
		fi
		if command -v rc-service >/dev/null 2>&1; then
			rc-service fleet-agent stop >/dev/null 2>&1 || :
		fi
		;;
	esac
	# The background loop (init none), also left over from an earlier installation.
	stop_supervisor
}

# Tells the fleet server that this node leaves the fleet (it is removed there), unless --keep-node.
leave_fleet() {
	[ -f "$state_dir/node.json" ] && [ -x "$bin" ] || return 0
	l_name=$(awk -F'"' '$2 == "nodeName" { print $4; exit }' "$state_dir/node.json")
	if [ -n "$keep_node" ]; then
		echo "${l_name:-this node} stays listed in the fleet, offline (--keep-node): reinstalling this machine takes it over"
		return 0
	fi
	if l_out=$(FLEET_LOG=silent "$bin" leave --state-dir "$state_dir" --reason "the agent was uninstalled (fleet-agent-uninstall.sh)" 2>&1); then
		echo "$l_out"
	else
		echo "fleet uninstall: warning: could not tell the fleet server that ${l_name:-this node} leaves the fleet (${l_out#fleet-agent: }); remove it there with: fleet nodes remove ${l_name:-NODE}" >&2
	fi
}

is_supervisor() {
	kill -s 0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/cmdline" ]; then
		tr '\0' '\n' <"/proc/$1/cmdline" | grep -qx fleet-agent-supervisor
	fi
}

# TERM to the loop (which passes it on to the agent), then KILL to its whole process group.
stop_supervisor() {
	[ -f "$pid_file" ] || return 0
	pid=$(awk 'NR == 1 { gsub(/[^0-9]/, ""); print; exit }' "$pid_file")
	if [ -n "$pid" ] && is_supervisor "$pid"; then
		echo "stopping the background fleet-agent (pid $pid)"
		kill -s TERM "$pid" 2>/dev/null || :
		n=0
		while [ "$n" -lt 10 ] && kill -s 0 "$pid" 2>/dev/null; do
			sleep 1
			n=$((n + 1))
		done
		kill -s KILL -- "-$pid" 2>/dev/null || kill -s KILL "-$pid" 2>/dev/null || :
		kill -s KILL "$pid" 2>/dev/null || :
		n=0
		while [ "$n" -lt 10 ] && kill -s 0 "$pid" 2>/dev/null; do
			sleep 1
			n=$((n + 1))
		done
	fi
}

main "$@"
EOF
}

# ---------------------------------------------------------------------------------------------
# The launcher, embedded because the fleet server serves only this file.
# It MUST stay identical to installer/fleet-agent-launch; installer/check-embedded.sh checks.

launcher_text() {
	cat <<'FLEET_AGENT_LAUNCH_EOF'
#!/bin/sh
# fleet-agent-launch: what the service manager (systemd, OpenRC or the installer's background
# loop) runs instead of fleet-agent itself. It runs `fleet-agent run` and guards the agent's
# self-upgrades, so that a broken new binary is rolled back to the previous one.
#
# Environment: FLEET_BIN (the agent binary, default /opt/fleet/bin/fleet-agent) and
# FLEET_AGENT_DIR (its state directory, default /var/lib/fleet-agent). The agent is started with
# FLEET_AGENT_SUPERVISED=1 so it knows a supervisor restarts it and this launcher guards upgrades.
# Arguments given to the launcher are passed on to `fleet-agent run`.
#
# The upgrade protocol (the agent implements the other half):
#   1. Before swapping binaries the agent writes $FLEET_AGENT_DIR/upgrade/pending with the lines
#      version=<new>, from=<old> and deadline=<unix seconds>, hard-links the old binary to
#      $FLEET_BIN.prev, renames the new one over $FLEET_BIN and exits 0 to be restarted.
#   2. The new agent, once connected to the server, deletes upgrade/pending itself.
#   3. This launcher, on every start:
#      - no upgrade/pending: exec the agent;
#      - pending and the deadline has passed: roll back (restore $FLEET_BIN.prev, write
#        upgrade/rolled-back with version=, from=, at=, reason=, remove pending), then exec;
#      - pending and the deadline is ahead: run the agent as a child and watch it every second.
#        It exits with the child's status if the child exits (the supervisor restarts us and the
#        deadline is checked again); it just waits for the child once pending is gone (the
#        upgrade succeeded); and when the deadline passes with pending still there it stops the
#        child (TERM, KILL after 5 s), rolls back and execs the previous binary.
#
# NOTE: install.sh embeds an identical copy of this file (the fleet server serves only
# install.sh). Keep the two identical; installer/check-embedded.sh verifies it.

main() {
	set -eu
	FLEET_BIN=${FLEET_BIN:-/opt/fleet/bin/fleet-agent}
	FLEET_AGENT_DIR=${FLEET_AGENT_DIR:-/var/lib/fleet-agent}
	FLEET_AGENT_SUPERVISED=1
	export FLEET_BIN FLEET_AGENT_DIR FLEET_AGENT_SUPERVISED
	upgrade_dir=$FLEET_AGENT_DIR/upgrade
	pending=$upgrade_dir/pending

	# The agent swaps binaries with link + rename, so this should never happen; but an agent
	# binary that is simply gone is worth one more try with the previous one.
	if [ ! -e "$FLEET_BIN" ] && [ -e "$FLEET_BIN.prev" ]; then
		say "$FLEET_BIN is missing; restoring $FLEET_BIN.prev"
		mv -f "$FLEET_BIN.prev" "$FLEET_BIN"
	fi

	if ! read_pending; then
		exec "$FLEET_BIN" run "$@"
	fi
	if [ "$(now)" -ge "$p_deadline" ]; then
		rollback
		exec "$FLEET_BIN" run "$@"
	fi
	watch_upgrade "$@"
}

say() {
	printf 'fleet-agent-launch: %s\n' "$*" >&2
}

now() {
	date +%s
}

# Reads upgrade/pending into p_version, p_from and p_deadline; fails when there is none.
# A deadline that is missing or not a number counts as passed.
read_pending() {
	p_version=
	p_from=
	p_deadline=
	[ -f "$pending" ] || return 1
	p_text=$(cat "$pending" 2>/dev/null) || return 1
	while IFS= read -r p_line; do
		p_line=$(printf '%s' "$p_line" | tr -d '\r')
		case $p_line in
		version=*) p_version=${p_line#version=} ;;
		from=*) p_from=${p_line#from=} ;;
		deadline=*) p_deadline=${p_line#deadline=} ;;
		esac
	done <<EOF
$p_text
EOF
	case $p_deadline in
	'' | *[!0-9]*)
		say "$pending has no valid deadline ('$p_deadline'); treating it as passed"
		p_deadline=0
		;;
	esac
	return 0
}

# Puts the previous binary back and records why, then forgets the pending upgrade.
rollback() {
	prev=$FLEET_BIN.prev
	if [ -e "$prev" ]; then
		# mv refuses when both names are hard links to one file (the agent stopped between
		# link and rename); copying first works in every case.
		if mv -f "$prev" "$FLEET_BIN" 2>/dev/null ||
			{ cp -p "$prev" "$FLEET_BIN.rollback.$$" && mv -f "$FLEET_BIN.rollback.$$" "$FLEET_BIN" && rm -f "$prev"; }; then
			what="rolled back to ${p_from:-the previous binary}"
		else
			rm -f "$FLEET_BIN.rollback.$$"
			what="could NOT restore $prev; keeping $FLEET_BIN"
		fi
	else
		what="no previous binary ($prev) to roll back to; keeping $FLEET_BIN"
	fi
	mkdir -p "$upgrade_dir"
	marker=$upgrade_dir/rolled-back
	{
		printf 'version=%s\n' "$p_version"
		printf 'from=%s\n' "$p_from"
		printf 'at=%s\n' "$(now)"
		printf 'reason=%s\n' 'not healthy before the deadline'
	} >"$marker.tmp.$$"
	mv -f "$marker.tmp.$$" "$marker"
	rm -f "$pending"
	say "upgrade to ${p_version:-?} (from ${p_from:-?}) was not healthy before the deadline; $what"
}

# Runs the new agent as a child while its upgrade is pending; see the top of this file.
watch_upgrade() {
	stop_asked=
	"$FLEET_BIN" run "$@" &
	child=$!
	# The child ignores SIGINT (it runs in the background of a non-interactive shell), so both
	# signals are passed on as TERM.
	trap 'stop_asked=1; kill -s TERM "$child" 2>/dev/null || :' TERM INT
	say "watching the upgrade to ${p_version:-?} (from ${p_from:-?}) until $p_deadline (in $((p_deadline - $(now))) s)"
	while :; do
		sleep 1
		if ! kill -s 0 "$child" 2>/dev/null; then
			wait_child
			if [ -z "$stop_asked" ] && [ -e "$pending" ]; then
				say "fleet-agent ${p_version:-?} exited with status $rc before its upgrade was confirmed"
			fi
			exit "$rc"
		fi
		if [ -n "$stop_asked" ]; then
			continue
		fi
		if [ ! -e "$pending" ]; then
			say "upgrade to ${p_version:-?} confirmed"
			wait_child
			exit "$rc"
		fi
		if [ "$(now)" -ge "$p_deadline" ]; then
			say "upgrade to ${p_version:-?} still unconfirmed at the deadline; stopping it"
			stop_child
			if [ -e "$pending" ]; then
				rollback
			else
				say "upgrade to ${p_version:-?} was confirmed while stopping; keeping it"
			fi
			if [ -n "$stop_asked" ]; then
				exit "$rc"
			fi
			trap - TERM INT
			exec "$FLEET_BIN" run "$@"
		fi
	done
}

# Waits for the child to exit, leaving its status in rc. A trapped signal interrupts `wait`
# (status > 128), so wait again while the child is still there.
wait_child() {
	while :; do
		rc=0
		wait "$child" || rc=$?
		if [ "$rc" -le 128 ]; then
			return 0
		fi
		if ! kill -s 0 "$child" 2>/dev/null; then
			# Gone: either that was its real status or it exited after the interruption.
			rc2=0
			wait "$child" 2>/dev/null || rc2=$?
			if [ "$rc2" != 127 ]; then
				rc=$rc2
			fi
			return 0
		fi
	done
}

# Stops the child: TERM, then KILL if it is still there after 5 seconds.
stop_child() {
	kill -s TERM "$child" 2>/dev/null || :
	waited=0
	while [ "$waited" -lt 5 ] && kill -s 0 "$child" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
	done
	kill -s KILL "$child" 2>/dev/null || :
	wait_child
}

main "$@"
FLEET_AGENT_LAUNCH_EOF
}

main "$@"

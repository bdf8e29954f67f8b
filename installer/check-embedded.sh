#!/bin/sh
# Checks that the copy of fleet-agent-launch embedded in install.sh (the heredoc ending in
# FLEET_AGENT_LAUNCH_EOF) is identical to installer/fleet-agent-launch; exits 1 if not.
#   installer/check-embedded.sh         check
#   installer/check-embedded.sh --fix   copy fleet-agent-launch into install.sh, then check

main() {
	set -eu
	dir=$(cd "$(dirname "$0")" && pwd)
	install=$dir/install.sh
	launcher=$dir/fleet-agent-launch
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT

	case ${1:-} in
	--fix) fix ;;
	'') ;;
	*)
		echo "usage: $0 [--fix]" >&2
		exit 2
		;;
	esac

	# The lines after the one ending in <<'FLEET_AGENT_LAUNCH_EOF', up to the terminator.
	awk '
		/^FLEET_AGENT_LAUNCH_EOF$/ { if (inside) { found = 1; exit } }
		inside { print }
		/<<.FLEET_AGENT_LAUNCH_EOF.$/ { inside = 1 }
		END { if (!found) exit 1 }
	' "$install" >"$tmp/embedded" || {
		echo "check-embedded: no embedded launcher (<<'FLEET_AGENT_LAUNCH_EOF' … FLEET_AGENT_LAUNCH_EOF) in $install" >&2
		exit 1
	}
	if cmp -s "$tmp/embedded" "$launcher"; then
		echo "check-embedded: the launcher embedded in install.sh is identical to fleet-agent-launch"
		exit 0
	fi
	echo "check-embedded: the launcher embedded in install.sh differs from fleet-agent-launch:" >&2
	diff -u "$launcher" "$tmp/embedded" >&2 || :
	echo "check-embedded: run $0 --fix to copy fleet-agent-launch into install.sh" >&2
	exit 1
}

# Rewrites install.sh with the current fleet-agent-launch between the heredoc markers.
fix() {
	if grep -qx 'FLEET_AGENT_LAUNCH_EOF' "$launcher"; then
		echo "check-embedded: fleet-agent-launch must not contain a line FLEET_AGENT_LAUNCH_EOF" >&2
		exit 1
	fi
	awk -v src="$launcher" '
		skipping && /^FLEET_AGENT_LAUNCH_EOF$/ { skipping = 0 }
		skipping { next }
		{ print }
		/<<.FLEET_AGENT_LAUNCH_EOF.$/ {
			while ((getline line < src) > 0) print line
			skipping = 1
		}
	' "$install" >"$tmp/install.sh"
	cat "$tmp/install.sh" >"$install"
	echo "check-embedded: copied fleet-agent-launch into install.sh"
}

main "$@"

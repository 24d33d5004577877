# Shared by scripts/fetch-*.sh: a private apt state under $STATE, so that
# packages and sources of other Debian releases can be fetched without
# touching the host's apt sources or dpkg database.
# The includer sets STATE, MIRROR, ARCH and defines log() and fail().

retry() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		[ $n -lt 3 ] && { log "retrying ($n): $*"; sleep $((n * 3)); }
	done
	return 1
}

ensure_host_packages() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing on the host: ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		retry apt-get update -qq >/dev/null 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1
	fi
}

# --- private apt state --------------------------------------------------------

# apt_state STATE_NAME apt-get|apt-cache ARGS...: run apt with the private state
# $STATE/STATE_NAME (its own sources.list, lists, empty dpkg status, caches).
apt_state() {
	local s="$STATE/$1" tool=$2
	shift 2
	"$tool" -q -o Dir::Etc::SourceList="$s/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
		-o Dir::State::Lists="$s/lists" -o Dir::State::status="$s/status" \
		-o Dir::State::extended_states="$s/extended_states" \
		-o Dir::Cache="$s/cache" -o Dir::Cache::archives="$s/archives" \
		-o APT::Architecture=$ARCH -o APT::Architectures=$ARCH -o APT::Get::List-Cleanup=0 \
		-o APT::Default-Release= -o APT::Sandbox::User=root -o Debug::NoLocking=1 "$@"
}

# prepare_state NAME SOURCES_LINE [refresh]: create the state and make sure its
# lists exist (fetched again when older than a day, or when asked to refresh).
prepare_state() {
	local name=$1 line=$2 refresh=${3:-} s="$STATE/$1"
	mkdir -p "$s/lists/partial" "$s/cache" "$s/archives/partial"
	: >"$s/status"
	if [ "$(cat "$s/sources.list" 2>/dev/null)" != "$line" ]; then
		echo "$line" >"$s/sources.list"
		rm -f "$s/updated"
	fi
	if [ ! -f "$s/updated" ] || { [ -n "$refresh" ] && [ -n "$(find "$s/updated" -mmin +1440)" ]; }; then
		# apt-get update exits 0 when an index fails to download: check its output.
		retry update_ok "$name" ||
			{ fail "$name: apt-get update failed (see $s/update.log: $(grep -m1 '^[WE]:' "$s/update.log"))"; return 1; }
		touch "$s/updated"
	fi
}

update_ok() {
	apt_state "$1" apt-get -o Acquire::Retries=2 update >"$STATE/$1/update.log" 2>&1 &&
		! grep -qE '^(E:|W: Failed to fetch|W: Some index files failed)' "$STATE/$1/update.log" &&
		return 0
	# A mirror frozen in time (a snapshot) serves a Release file past its
	# Valid-Until; its signature still holds. Said, then accepted.
	grep -q "^E: Release file for .* is expired" "$STATE/$1/update.log" || return 1
	log "$1: $(grep -m1 -o 'is expired (invalid since [^)]*)' "$STATE/$1/update.log"): a frozen mirror; using it anyway"
	apt_state "$1" apt-get -o Acquire::Retries=2 -o Acquire::Check-Valid-Until=false update \
		>"$STATE/$1/update.log" 2>&1 &&
		! grep -qE '^(E:|W: Failed to fetch|W: Some index files failed)' "$STATE/$1/update.log"
}

deb_line() { echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $1 main"; }
src_line() { echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $1 main"; }

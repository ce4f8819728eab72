#!/bin/sh
# As the official image's entrypoint: options alone, or a config file first,
# are redis-server's. Then protected mode off, as the official image's compiled
# default, unless the config file given sets it.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ] && ! { [ -f "${2:-}" ] && grep -q '^ *protected-mode' "$2"; }; then
	shift
	set -- redis-server "$@" --protected-mode no
fi
# As the official one: a umask of 0077 unless one other than 0022 is set.
if [ "$(umask)" = 0022 ]; then
	umask 0077
fi
exec "$@"

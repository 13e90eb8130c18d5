# Starts throwaway Redis servers for tests and benchmarks, and stops them when the shell that
# sources this file exits, however it exits. Sourced by scripts/test-redis.sh and
# scripts/bench-redis.sh; not run on its own.
#
#   redis_install            installs Debian's redis-server when missing (as root)
#   redis_start NAME ARGS..  starts one server on a free loopback port; sets $redis_port
#   redis_cluster N          starts N primaries, joins them into a cluster, waits until it
#                            serves every slot; sets $redis_cluster_urls (comma-separated)
#
# Every server listens on 127.0.0.1 only, saves nothing (--save '' --appendonly no) and keeps
# its files in one temporary directory, removed on exit.

redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/stanchion-redis.XXXXXX")
redis_pids=()

redis_stop_all() {
    local pid
    for pid in "${redis_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${redis_pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    redis_pids=()
    rm -rf "$redis_dir"
}
trap redis_stop_all EXIT
# An interrupt ends the script through its EXIT trap, so the servers stop then too.
trap 'exit 130' INT
trap 'exit 143' TERM

redis_install() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "redis-server is not installed: run this script as root to install it, or run" >&2
        echo "  sudo apt-get install -y --no-install-recommends redis-server" >&2
        return 1
    fi
    echo "installing redis-server (Debian's package)"
    apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server </dev/null
}

# A port the OS reports free on loopback. Another process may take it before the server
# binds it, so redis_start tries again with a new one when a server does not come up.
redis_free_port() {
    perl -MIO::Socket::INET -e '
        my $socket = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
            LocalPort => 0, Proto => "tcp") or die "no free port: $!\n";
        print $socket->sockport, "\n";'
}

redis_start() {
    local name=$1
    shift
    local attempt port pid i extra=()
    mkdir -p "$redis_dir/$name"
    for attempt in 1 2 3 4 5; do
        port=$(redis_free_port)
        extra=()
        # A cluster node also listens on a bus port; pick that from the OS as well.
        if [ "${1:-}" = "--cluster-enabled" ]; then
            extra=(--cluster-port "$(redis_free_port)"
                --cluster-config-file "$redis_dir/$name/nodes.conf")
        fi
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$redis_dir/$name" --daemonize no --loglevel warning "$@" "${extra[@]}" \
            >"$redis_dir/$name.log" 2>&1 &
        pid=$!
        redis_pids+=("$pid")
        for i in $(seq 100); do
            if redis-cli -p "$port" ping >/dev/null 2>&1; then
                redis_port=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "redis server $name did not start on port $port (attempt $attempt):" >&2
        cat "$redis_dir/$name.log" >&2
    done
    return 1
}

redis_cluster() {
    local count=$1 i nodes=() urls=() port
    for i in $(seq "$count"); do
        redis_start "cluster-$i" --cluster-enabled yes --cluster-node-timeout 5000
        nodes+=("127.0.0.1:$redis_port")
        urls+=("redis://127.0.0.1:$redis_port/")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
        >"$redis_dir/cluster-create.log" 2>&1 || {
        cat "$redis_dir/cluster-create.log" >&2
        return 1
    }
    for node in "${nodes[@]}"; do
        port=${node##*:}
        for i in $(seq 200); do
            redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
            if [ "$i" -eq 200 ]; then
                echo "the cluster did not reach cluster_state:ok on $node" >&2
                return 1
            fi
            sleep 0.05
        done
    done
    redis_cluster_urls=$(IFS=,; echo "${urls[*]}")
}

#!/usr/bin/env bash
# One-node SLURM cluster on loopback, for CI and local tests of profiles/slurm.
#
#   .ci/slurm_cluster.sh install       # apt-get install slurm-wlm munge (idempotent)
#   .ci/slurm_cluster.sh start DIR     # start munged + slurmctld + slurmd, state under DIR
#   eval "$(.ci/slurm_cluster.sh start DIR)"   # same, and export SLURM_CONF
#   .ci/slurm_cluster.sh stop DIR      # stop exactly the daemons `start DIR` started
#   .ci/slurm_cluster.sh status DIR    # sinfo/squeue of that cluster
#
# The node has 2 CPUs (SCBENCH_SLURM_CPUS), the machine's memory and one GPU gres
# backed by /dev/null (a file-less GPU makes the node INVAL). No accounting
# (no slurmdbd): use `slurm-status-command: squeue`, which is why MinJobAge>=300.
# Tested with Debian 12 (SLURM 22.05, munge 0.5.15), as root, without systemd.
#
# Environment knobs:
#   SCBENCH_SLURM_CPUS          CPUs of the node                    [2]
#   SCBENCH_SLURM_CTLD_PORT     slurmctld port                      [6817]
#   SCBENCH_SLURM_SLURMD_PORT   slurmd port                         [6818]
#   SCBENCH_SLURM_WAIT          seconds to wait for an idle node    [60]
#   SCBENCH_SLURM_MIN_JOB_AGE   MinJobAge: seconds finished jobs stay visible to squeue/scontrol
#                               (>= 300 for `slurm-status-command: squeue`)  [300]
#
# Only stdout of `start` is the export line; every message goes to stderr.
set -euo pipefail

log() { echo "slurm_cluster: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The daemons `start` launches, in start order; `stop` kills them in reverse.
DAEMONS=(munged slurmctld slurmd)
SYSTEM_CONF=/etc/slurm/slurm.conf

have_slurm() {
    command -v munged >/dev/null && command -v mungekey >/dev/null \
        && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sinfo >/dev/null && command -v sbatch >/dev/null
}

cmd_install() {
    if have_slurm; then
        log "slurm-wlm and munge already installed"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq slurm-wlm munge >&2
    have_slurm || die "slurm-wlm/munge installed but binaries not found"
    log "installed $(slurmctld -V 2>&1)"
}

pid_alive() {  # pid_alive PID NAME: PID runs and is the daemon NAME (guards against reuse)
    local pid=$1 name=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

wait_for_pidfile() {  # wait_for_pidfile FILE NAME: echo PID once FILE names a live NAME
    local file=$1 name=$2 i pid
    for i in $(seq 1 100); do
        if [ -s "$file" ]; then
            pid=$(tr -dc '0-9' <"$file")
            if pid_alive "$pid" "$name"; then
                echo "$pid"
                return 0
            fi
        fi
        sleep 0.1
    done
    return 1
}

real_memory_mb() {
    # What slurmd itself detects, so the node is never drained for "Low RealMemory".
    local mem
    mem=$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -n1)
    if [ -z "$mem" ]; then
        mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
    fi
    echo "$mem"
}

start_failed() {  # start_failed DIR MESSAGE: show logs, stop what was started, exit 1
    local dir=$1 msg=$2 f
    for f in "$dir/munge/log/munged.log" "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; do
        [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
    done
    cmd_stop "$dir" || true
    die "$msg"
}

cmd_start() {
    local dir=${1:?usage: start DIR}
    have_slurm || die "slurm-wlm/munge not installed; run: $0 install"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    local name; name=$(hostname -s)
    local cpus=${SCBENCH_SLURM_CPUS:-2}
    local ctld_port=${SCBENCH_SLURM_CTLD_PORT:-6817}
    local slurmd_port=${SCBENCH_SLURM_SLURMD_PORT:-6818}
    local wait_s=${SCBENCH_SLURM_WAIT:-60}
    local min_job_age=${SCBENCH_SLURM_MIN_JOB_AGE:-300}
    local user; user=$(id -un)
    local mem; mem=$(real_memory_mb)
    local conf=$dir/etc/slurm.conf

    local port
    for port in "$ctld_port" "$slurmd_port"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "port $port on 127.0.0.1 is in use (another SLURM?); set SCBENCH_SLURM_CTLD_PORT / SCBENCH_SLURM_SLURMD_PORT"
        fi
    done

    if [ -s "$dir/started.pids" ]; then
        local d p
        while read -r d p; do
            pid_alive "$p" "$d" && die "$d (pid $p) from an earlier start in $dir still runs; run: $0 stop $dir"
        done <"$dir/started.pids"
    fi
    : >"$dir/started.pids"

    # munge: key directory private, socket directory world-executable.
    mkdir -p "$dir/munge/etc" "$dir/munge/run" "$dir/munge/lib" "$dir/munge/log" \
        "$dir/etc" "$dir/spool/ctld" "$dir/spool/d" "$dir/log" "$dir/run" "$dir/slurm-logs"
    chmod 755 "$dir" "$dir/munge" "$dir/munge/run"
    chmod 700 "$dir/munge/etc" "$dir/munge/lib" "$dir/munge/log"
    local key=$dir/munge/etc/munge.key sock=$dir/munge/run/munge.socket.2
    if [ ! -s "$key" ]; then
        mungekey --create --keyfile="$key" >&2 2>/dev/null \
            || dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
    fi
    chmod 400 "$key"

    # gres.conf sits next to slurm.conf (SLURM reads it from the config's directory).
    cat >"$dir/etc/gres.conf" <<EOF
# One fake GPU: a GPU gres needs a device file, /dev/null will do.
NodeName=$name Name=gpu Count=1 File=/dev/null
EOF
    cat >"$conf" <<EOF
# Generated by .ci/slurm_cluster.sh start $dir
ClusterName=scbench
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups without systemd: track processes via /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# No accounting (no slurmdbd): sacct does not work, squeue must see finished jobs.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=$min_job_age
ReturnToService=2
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
GresTypes=gpu
NodeName=$name NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF

    # /etc/slurm/slurm.conf: the plugin's job step clears SLURM_CONF, so the srun
    # inside each job reads this path. Only link when nothing is there.
    rm -f "$dir/created_symlink"
    if [ ! -e "$SYSTEM_CONF" ] && [ ! -L "$SYSTEM_CONF" ]; then
        if [ ! -d "$(dirname "$SYSTEM_CONF")" ]; then
            mkdir -p "$(dirname "$SYSTEM_CONF")" && echo dir >"$dir/created_etc_dir"
        fi
        ln -s "$conf" "$SYSTEM_CONF"
        echo "$SYSTEM_CONF" >"$dir/created_symlink"
        log "linked $SYSTEM_CONF -> $conf"
    elif [ "$(readlink -f "$SYSTEM_CONF")" != "$conf" ]; then
        log "WARNING: $SYSTEM_CONF exists and is not ours; srun inside plugin jobs will use it"
    fi

    export SLURM_CONF=$conf
    local pid

    munged --force --socket="$sock" --key-file="$key" --pid-file="$dir/munge/run/munged.pid" \
        --seed-file="$dir/munge/lib/munged.seed" --log-file="$dir/munge/log/munged.log" \
        || start_failed "$dir" "munged failed to start"
    pid=$(wait_for_pidfile "$dir/munge/run/munged.pid" munged) || start_failed "$dir" "munged did not start"
    echo "munged $pid" >>"$dir/started.pids"

    slurmctld -f "$conf" -c -i || start_failed "$dir" "slurmctld failed to start"
    pid=$(wait_for_pidfile "$dir/run/slurmctld.pid" slurmctld) || start_failed "$dir" "slurmctld did not start"
    echo "slurmctld $pid" >>"$dir/started.pids"

    slurmd -f "$conf" -N "$name" || start_failed "$dir" "slurmd failed to start"
    pid=$(wait_for_pidfile "$dir/run/slurmd.pid" slurmd) || start_failed "$dir" "slurmd did not start"
    echo "slurmd $pid" >>"$dir/started.pids"

    # Wait (wall clock) for the node to be idle; give up at once if a daemon died.
    local deadline=$((SECONDS + wait_s)) state="" d p
    while :; do
        while read -r d p; do
            pid_alive "$p" "$d" || start_failed "$dir" "$d (pid $p) exited during start-up"
        done <"$dir/started.pids"
        state=$(timeout 5 sinfo -h -N -n "$name" -o '%t' 2>/dev/null | head -n1 || true)
        [ "$state" = idle ] && break
        [ "$SECONDS" -ge "$deadline" ] && start_failed "$dir" "node $name not idle after ${wait_s}s (state: ${state:-none})"
        sleep 0.25
    done
    log "node $name idle (CPUs=$cpus RealMemory=$mem Gres=gpu:1); daemons: $(tr '\n' ' ' <"$dir/started.pids")"
    echo "export SLURM_CONF=$conf"
}

cmd_stop() {
    local dir=${1:?usage: stop DIR}
    [ -d "$dir" ] || die "no such directory: $dir"
    dir=$(cd "$dir" && pwd -P)
    local conf=$dir/etc/slurm.conf

    # Cancel leftover jobs of this cluster (only this one: SLURM_CONF points at it).
    if [ -f "$conf" ] && [ -s "$dir/started.pids" ] && command -v scancel >/dev/null; then
        SLURM_CONF=$conf timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1 || true
    fi

    if [ -s "$dir/started.pids" ]; then
        local lines d p i
        mapfile -t lines < <(tac "$dir/started.pids")
        for line in "${lines[@]}"; do
            read -r d p <<<"$line"
            if pid_alive "$p" "$d"; then
                kill -TERM "$p" 2>/dev/null || true
                for i in $(seq 1 50); do pid_alive "$p" "$d" || break; sleep 0.1; done
                if pid_alive "$p" "$d"; then
                    log "$d (pid $p) ignored SIGTERM; sending SIGKILL"
                    kill -KILL "$p" 2>/dev/null || true
                fi
                log "stopped $d (pid $p)"
            fi
        done
        : >"$dir/started.pids"
    fi

    if [ -s "$dir/created_symlink" ]; then
        local link; link=$(cat "$dir/created_symlink")
        if [ -L "$link" ] && [ "$(readlink "$link")" = "$conf" ]; then
            rm -f "$link"
            log "removed $link"
            if [ -f "$dir/created_etc_dir" ]; then
                rmdir "$(dirname "$link")" 2>/dev/null || true
            fi
        fi
        rm -f "$dir/created_symlink" "$dir/created_etc_dir"
    fi
}

cmd_status() {
    local dir=${1:?usage: status DIR}
    dir=$(cd "$dir" && pwd -P)
    export SLURM_CONF=$dir/etc/slurm.conf
    sinfo -N -l
    squeue
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    *) echo "usage: $0 {install|start DIR|stop DIR|status DIR}" >&2; exit 2 ;;
esac

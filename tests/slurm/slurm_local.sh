#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for tests and for trying the
# sbatch templates in slurm/ without a cluster. Debian packages only
# (slurm-wlm, munge, libpmix-dev: Slurm's mpi/pmix plugin loads the
# unversioned libpmix.so; installed with apt-get when missing, as root).
#
# usage: tests/slurm/slurm_local.sh start|stop|status|env
#        source tests/slurm/slurm_local.sh start   # also exports SLURM_CONF
#
#   start   install the packages if needed, start munged, slurmctld and slurmd
#           as root daemons (no systemd needed) and wait until the node is
#           idle; does nothing but wait when the cluster is already up
#   stop    cancel every job, stop the daemons and remove the cluster folder
#   status  exit 0 when all three daemons run, print sinfo
#   env     print `export SLURM_CONF=...` for eval in another shell
#
# Exit status: 0 ok, 1 the cluster did not come up (see the logs printed),
# 3 cannot run here (not root, or the packages cannot be installed): callers
# treat 3 as "skip".
#
# Everything lives under $AB_SLURM_DIR (default /tmp/autobuild-slurm): its own
# munge key and socket, slurm.conf, state, spool and logs; nothing in /etc is
# touched, so clients (sinfo, sbatch, srun, scontrol) need SLURM_CONF, which
# `source ... start` exports and which sbatch passes on to its jobs.
#
# The node declares AB_SLURM_CPUS CPUs (default 32), more than the machine
# has, which slurmd accepts with SlurmdParameters=config_overrides; so tests
# can run 3 or 8 tasks on a 2-core machine. Ports: AB_SLURM_PORT (slurmctld,
# default 6817) and the next one (slurmd).
#
# What works in this container (Debian 12 without systemd, Slurm 22.05.8,
# Open MPI 4.1.4, PMIx 4.2.2; found by trying):
#   * ProctrackType=proctrack/linuxproc and TaskPlugin=task/none: no cgroups
#     needed (proctrack/cgroup wants a writable, delegated cgroup tree).
#   * SelectType=select/cons_tres with SelectTypeParameters=CR_CPU.
#   * MpiDefault=pmix: `srun --mpi=list` shows pmix (plugin pmix_v4). Slurm's
#     mpi/pmix plugin and Open MPI both use Debian's libpmix2, and
#     `srun --mpi=pmix -n 4 build/tests/mpi_runtime` gives every rank
#     MPI_COMM_WORLD of size 4 with NO extra OMPI_MCA_*/PMIX_MCA_* settings
#     (nor OMPI_ALLOW_RUN_AS_ROOT: that is for mpirun only).
#   * --mpi=pmi2 and --mpi=none do NOT work with Debian's Open MPI (it is
#     not built against Slurm's libpmi2): MPI_Init aborts. Always use pmix.
#   * If ranks hang or abort in MPI_Init in a stricter container, try
#     PMIX_MCA_gds=hash (PMIx's shared-memory store needs /dev/shm) and
#     OMPI_MCA_btl_vader_single_copy_mechanism=none (CMA needs ptrace rights);
#     neither was needed here.
_ab_slurm_main() {
    local dir=${AB_SLURM_DIR:-/tmp/autobuild-slurm}
    local port=${AB_SLURM_PORT:-6817}
    local cpus=${AB_SLURM_CPUS:-32}
    # job credential lifetime; it is also how long a requeued job waits before
    # it may start again (Slurm's default 120 s would make requeue tests slow).
    # With sched_interval=2 a requeued job restarts about 10 s after requeue.
    local cred_expire=${AB_SLURM_CRED_EXPIRE:-5}
    local node host
    host=$(hostname -s 2> /dev/null || hostname)
    node=$host
    local conf=$dir/etc/slurm.conf
    local sock=$dir/munge/munge.socket.2

    _abs_pid_alive() { # DIR/run/NAME.pid: NAME runs with that pid (not a reused pid)
        local pid
        [ -s "$1" ] || return 1
        pid=$(cat "$1")
        kill -0 "$pid" 2> /dev/null &&
            [ "$(cat "/proc/$pid/comm" 2> /dev/null)" = "$(basename "$1" .pid)" ]
    }
    _abs_logs() {
        local f
        for f in "$dir"/log/*.log; do
            [ -f "$f" ] || continue
            echo "--- $f (last lines)" >&2
            tail -n 15 "$f" >&2
        done
    }
    _abs_have_libpmix() { # Slurm's mpi/pmix plugin dlopens the unversioned libpmix.so (libpmix-dev)
        local f
        for f in /usr/lib/*/pmix2/lib/libpmix.so /usr/lib/*/libpmix.so /usr/lib64/libpmix.so; do
            [ -e "$f" ] && return 0
        done
        return 1
    }
    _abs_install() {
        local pkgs=()
        command -v slurmctld > /dev/null && command -v slurmd > /dev/null &&
            command -v sbatch > /dev/null || pkgs+=(slurm-wlm)
        command -v munged > /dev/null || pkgs+=(munge)
        _abs_have_libpmix || pkgs+=(libpmix-dev)
        [ ${#pkgs[@]} -eq 0 ] && return 0
        if [ "$(id -u)" -ne 0 ]; then
            echo "slurm_local: ${pkgs[*]} missing and not root" >&2
            return 3
        fi
        echo "slurm_local: installing ${pkgs[*]} with apt-get" >&2
        { apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${pkgs[@]}"; } > "${TMPDIR:-/tmp}/slurm_local_apt.log" 2>&1 || {
            echo "slurm_local: apt-get failed (${TMPDIR:-/tmp}/slurm_local_apt.log)" >&2
            return 3
        }
        command -v slurmctld > /dev/null && command -v munged > /dev/null || return 3
    }
    _abs_write_conf() {
        local plugdir pmix_default=none
        # the mpi/pmix plugin is in slurm-wlm-basic-plugins when Slurm was built with PMIx
        for plugdir in /usr/lib/*/slurm-wlm /usr/lib/slurm /usr/lib64/slurm; do
            [ -e "$plugdir/mpi_pmix.so" ] && _abs_have_libpmix && { pmix_default=pmix; break; }
        done
        mkdir -p "$dir/etc"
        cat > "$conf.tmp" << EOF
# written by tests/slurm/slurm_local.sh; a one-node test cluster
ClusterName=autobuild-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock,cred_expire=$cred_expire
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=$pmix_default
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
TmpFS=/tmp
MailProg=/bin/true
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
        mv "$conf.tmp" "$conf"
    }
    _abs_wait_node() { # wait until the node is idle (or busy with jobs, when it was up)
        local st
        for _ in $(seq 1 60); do
            if ! _abs_pid_alive "$dir/run/slurmctld.pid" || ! _abs_pid_alive "$dir/run/slurmd.pid"; then
                sleep 1 # a daemon writes its pid file only once it has daemonised
                _abs_pid_alive "$dir/run/slurmctld.pid" && _abs_pid_alive "$dir/run/slurmd.pid" || {
                    echo "slurm_local: slurmctld or slurmd exited" >&2
                    _abs_logs
                    return 1
                }
            fi
            st=$(SLURM_CONF=$conf sinfo -h -n "$node" -o %T 2> /dev/null | head -n 1)
            case $st in
                idle | mixed | allocated | completing) return 0 ;;
                down* | drain*) SLURM_CONF=$conf scontrol update nodename="$node" \
                    state=resume > /dev/null 2>&1 ;;
            esac
            sleep 1
        done
        echo "slurm_local: node $node not idle after 60 s (state '$st')" >&2
        _abs_logs
        return 1
    }
    _abs_start() {
        _abs_install || return $?
        if [ "$(id -u)" -ne 0 ]; then
            echo "slurm_local: the daemons must run as root" >&2
            return 3
        fi
        (umask 022 && mkdir -p "$dir"/{etc,munge,state,spool,run,log} "$dir/spool/slurmd-$node")
        # munged refuses folders others can write to; clients must read slurm.conf
        chmod 0755 "$dir" "$dir"/*
        [ -f "$conf" ] || _abs_write_conf
        # munge: a key of our own and a socket of our own
        if ! _abs_pid_alive "$dir/run/munged.pid"; then
            if [ ! -s "$dir/munge/munge.key" ]; then
                dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
                chmod 0600 "$dir/munge/munge.key"
            fi
            rm -f "$sock" "$sock.lock"
            munged --force --socket="$sock" --key-file="$dir/munge/munge.key" \
                --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
                --seed-file="$dir/munge/munged.seed" || {
                echo "slurm_local: munged failed" >&2
                _abs_logs
                return 1
            }
            for _ in $(seq 1 20); do [ -S "$sock" ] && break; sleep 0.25; done
        fi
        munge -n -S "$sock" 2> /dev/null | unmunge -S "$sock" > /dev/null 2>&1 || {
            echo "slurm_local: munge does not work" >&2
            _abs_logs
            return 1
        }
        if ! _abs_pid_alive "$dir/run/slurmctld.pid"; then
            SLURM_CONF=$conf slurmctld -f "$conf" -c -i || { _abs_logs; return 1; }
        fi
        if ! _abs_pid_alive "$dir/run/slurmd.pid"; then
            SLURM_CONF=$conf slurmd -f "$conf" -N "$node" || { _abs_logs; return 1; }
        fi
        _abs_wait_node || return 1
        export SLURM_CONF=$conf
        return 0
    }
    _abs_stop() {
        local f pid jobs
        if [ -f "$conf" ] && _abs_pid_alive "$dir/run/slurmctld.pid"; then
            jobs=$(SLURM_CONF=$conf squeue -h -o %i 2> /dev/null)
            if [ -n "$jobs" ]; then
                # shellcheck disable=SC2086
                SLURM_CONF=$conf scancel $jobs 2> /dev/null
                for _ in $(seq 1 30); do
                    [ -z "$(SLURM_CONF=$conf squeue -h -o %i 2> /dev/null)" ] && break
                    sleep 0.5
                done
            fi
        fi
        for f in slurmd slurmctld munged; do
            _abs_pid_alive "$dir/run/$f.pid" || continue
            pid=$(cat "$dir/run/$f.pid")
            kill "$pid" 2> /dev/null
            for _ in $(seq 1 40); do kill -0 "$pid" 2> /dev/null || break; sleep 0.25; done
            _abs_pid_alive "$dir/run/$f.pid" && kill -9 "$pid" 2> /dev/null
        done
        case $dir in
            /tmp/* | "${TMPDIR:-/tmp}"/*) rm -rf "$dir" ;;
            *) rm -rf "${dir:?}"/{state,spool,run,munge,etc} ;; # keep the logs of a custom folder
        esac
        [ "${SLURM_CONF:-}" = "$conf" ] && unset SLURM_CONF
        return 0
    }
    _abs_status() {
        local f up=0
        for f in munged slurmctld slurmd; do
            if _abs_pid_alive "$dir/run/$f.pid"; then
                echo "$f: running (pid $(cat "$dir/run/$f.pid"))"
                up=$((up + 1))
            else
                echo "$f: not running"
            fi
        done
        [ $up = 3 ] && SLURM_CONF=$conf sinfo
        [ $up = 3 ]
    }
    case ${1:-} in
        start) _abs_start ;;
        stop) _abs_stop ;;
        status) _abs_status ;;
        env) echo "export SLURM_CONF=$conf" ;;
        *)
            echo "usage: slurm_local.sh start|stop|status|env" >&2
            return 2
            ;;
    esac
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # sourced: run the subcommand, if any, in the caller's shell (exports SLURM_CONF)
    if [ $# -gt 0 ]; then _ab_slurm_main "$@"; fi
else
    _ab_slurm_main "$@"
    exit $?
fi

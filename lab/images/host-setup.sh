#!/bin/sh
# Runs inside the debootstrapped rootfs (chroot) to turn it into a lab host that
# boots systemd as PID 1 in a container and is reached only over SSH with a key.
set -eu

# Units that cannot work in a container (left enabled they make systemd "degraded"),
# and slapd, which a test starts with a directory of its own.
for unit in systemd-modules-load.service systemd-remount-fs.service \
    systemd-firstboot.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    sys-fs-fuse-connections.mount systemd-udevd.service systemd-udev-trigger.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket \
    getty@tty1.service console-getty.service serial-getty@ttyS0.service \
    systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service fstrim.timer \
    slapd.service; do
    ln -sf /dev/null "/etc/systemd/system/$unit"
done

# Every container gets its own machine-id and SSH host keys at first boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
cat > /etc/systemd/system/lab-ssh-host-keys.service <<'EOF'
[Unit]
Description=Generate SSH host keys for this lab host
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
ln -sf /etc/systemd/system/lab-ssh-host-keys.service \
    /etc/systemd/system/multi-user.target.wants/lab-ssh-host-keys.service
ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service

# Key authentication only, as on a hardened server. VERBOSE logs one "Starting
# session: command ..." line per remote command and sftp-server one "close ... bytes
# read R written W" per file: `make bench` counts round trips and uploaded bytes from
# the journal, without touching what the deploy does.
cat > /etc/ssh/sshd_config.d/lab.conf <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
LogLevel VERBOSE
EOF
sed -i 's|^Subsystem[[:space:]]\+sftp[[:space:]].*|Subsystem sftp /usr/lib/openssh/sftp-server -l INFO|' /etc/ssh/sshd_config
grep -q '^Subsystem sftp /usr/lib/openssh/sftp-server -l INFO$' /etc/ssh/sshd_config
passwd -l root >/dev/null
install -d -m 0700 /root/.ssh

# Non-root deploy users, as real servers are reached: ops (sudo without a password)
# and opspw (sudo with a password, set per lab by `make lab-up`). The lab's public
# key is mounted as their authorized_keys too.
for user in ops opspw; do
    useradd -m -s /bin/bash "$user"
    passwd -l "$user" >/dev/null
    install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"
done
echo 'ops ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/lab-ops
echo 'opspw ALL=(ALL:ALL) ALL' > /etc/sudoers.d/lab-opspw
chmod 0440 /etc/sudoers.d/lab-ops /etc/sudoers.d/lab-opspw

# Keep the image small and free of the build host's apt state.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old

#!/bin/sh
# Run once in the stand-in images' Debian rootfs (chroot, no services start):
# the system users and database settings Harbor's own images have, then the
# packages of packages.txt (copied to /tmp).
set -e

# Harbor's harbor-db and redis images run as uid/gid 999 and prepare chowns
# <data_volume>/database and /redis to 999:999; both users share that id here
# (one rootfs serves every image). Created before the packages, which reuse them.
groupadd --system --gid 999 postgres
useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres
groupadd --system --non-unique --gid 999 redis
useradd --system --non-unique --uid 999 --gid 999 --home-dir /var/lib/redis --shell /usr/sbin/nologin redis

# No "main" cluster: harbor-db initialises its own data directory on first start.
mkdir -p /etc/postgresql-common
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf

# Images, not workstations: no manuals, docs or message translations.
printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/locale/*' \
    > /etc/dpkg/dpkg.cfg.d/01-standin-nodoc

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(cat /tmp/packages.txt) >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

# Harbor's initdb asks for en_US.UTF-8 collation and character type.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' /etc/locale.gen
locale-gen >/dev/null

# What no stand-in process reads, left out of the rootfs every install unpacks and
# every `docker load` reads (two fifths of it): PostgreSQL's JIT provider and the
# LLVM and Z3 libraries only it links (without the provider PostgreSQL compiles
# nothing and raises no error, as `jit_provider`'s documentation says; the sample
# config keeps only Harbor's own edits, make/photon/db/Dockerfile.base), the locale
# sources (compiled above), message translations, manuals and docs debootstrap installed.
rm -rf /usr/lib/postgresql/15/lib/llvmjit* /usr/lib/postgresql/15/lib/bitcode \
    /usr/lib/x86_64-linux-gnu/libLLVM-14.so* /usr/lib/x86_64-linux-gnu/libz3.so* \
    /usr/share/i18n /usr/share/locale/* /usr/share/man/* /usr/share/doc/*
ldconfig

# As Harbor's db image: a new cluster listens on every address, sockets in /run/postgresql.
sample=/usr/share/postgresql/15/postgresql.conf.sample
sed -i "s|^#listen_addresses = 'localhost'.*|listen_addresses = '*'|" "$sample"
sed -i "s|^#unix_socket_directories = '/tmp'.*|unix_socket_directories = '/run/postgresql'|" "$sample"
mkdir -p /var/lib/postgresql/data /run/postgresql /var/lib/redis
chown postgres:postgres /var/lib/postgresql/data /run/postgresql
chmod 2777 /run/postgresql
chown redis:redis /var/lib/redis

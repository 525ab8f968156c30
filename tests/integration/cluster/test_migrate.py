"""`pyb migrate --from sqlite:DIR --to etcd:URL`: a cluster made through a real
apiserver on SQLite, copied to a real etcd, served by an apiserver there —
every object reads back the same (uid, creationTimestamp, labels, spec) and
new Services get cluster IPs and node ports that clash with none migrated."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pybernetes.client import Client, errors
from tests.conftest import APIServerProcess

from .conftest import ROOT

# A tiny service range: 6 host addresses to allocate.
IP_RANGE = ("--service-cluster-ip-range", "10.96.7.0/29", "--service-node-port-range", "30100-30104")
KINDS = [("", "v1", "namespaces"), ("", "v1", "configmaps"), ("", "v1", "secrets"), ("", "v1", "services"),
         ("", "v1", "pods"), ("", "v1", "replicationcontrollers"), ("", "v1", "nodes"),
         ("coordination.k8s.io", "v1", "leases")]


def run_migrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pybernetes.cli.migrate", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


async def _populate(client: Client) -> None:
    ns = "shop"
    await client.namespaces().create({"metadata": {"name": ns, "labels": {"team": "a"}}})
    for i in range(30):
        await client.config_maps(ns).create({"metadata": {"name": f"cm{i}", "labels": {"i": str(i), "set": "x"}},
                                             "data": {"k": "v" * i}})
    await client.secrets(ns).create({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    await client.services(ns).create({"metadata": {"name": "web", "labels": {"app": "web"}},
                                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    await client.services(ns).create({"metadata": {"name": "np"},
                                      "spec": {"type": "NodePort", "selector": {"app": "web"},
                                               "ports": [{"port": 81, "nodePort": 30102}]}})
    await client.replication_controllers(ns).create({
        "metadata": {"name": "rc", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"app": "web"},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    await client.pods(ns).create({"metadata": {"name": "p", "labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["sleep"]}]}})
    await client.nodes().create({"metadata": {"name": "n1", "labels": {"zone": "z1"}}})
    await client.leases("kube-system").create({"metadata": {"name": "l"}, "spec": {"holderIdentity": "me"}})


async def _snapshot(client: Client) -> dict[tuple, dict]:
    out = {}
    for group, version, plural in KINDS:
        for obj in (await client.resource(group, version, plural).list())["items"]:
            m = obj["metadata"]
            out[(plural, m.get("namespace"), m["name"])] = {
                "uid": m["uid"], "creationTimestamp": m["creationTimestamp"], "labels": m.get("labels"),
                "spec": obj.get("spec"), "data": obj.get("data"), "generation": m.get("generation"),
                "ownerReferences": m.get("ownerReferences")}
    return out


async def test_migrate_sqlite_to_etcd(tmp_path, etcd):
    source = APIServerProcess(tmp_path / "sqlite-apiserver", IP_RANGE).start()
    try:
        client = Client.from_url(source.url)
        try:
            await _populate(client)
            before = await _snapshot(client)
            ips = {s["spec"]["clusterIP"] for s in (await client.services().list())["items"]}
        finally:
            await client.close()
    finally:
        source.stop()
    assert len(ips) == 2, "web, np"
    assert ("configmaps", "shop", "cm29") in before and ("leases", "kube-system", "l") in before

    to = "etcd:" + ",".join(etcd.client_urls)
    done = run_migrate("--from", f"sqlite:{source.data_dir}", "--to", to)
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    counts = dict(line.rsplit(None, 1) for line in done.stdout.splitlines()[1:-1])
    assert counts["ConfigMap"] == str(sum(1 for k in before if k[0] == "configmaps"))
    assert counts["Service"] == "2" and counts["ranges/serviceips"] == "2"
    assert counts["ranges/servicenodeports"] == "1"
    assert counts["Namespace"] == str(sum(1 for k in before if k[0] == "namespaces"))
    assert counts["Lease.coordination.k8s.io"] == str(sum(1 for k in before if k[0] == "leases"))
    assert done.stdout.splitlines()[-1].startswith("copied ")

    again = run_migrate("--from", f"sqlite:{source.data_dir}", "--to", to)
    assert again.returncode == 1 and "refusing" in again.stderr, "a non-empty destination is refused"

    dest = APIServerProcess(tmp_path / "etcd-apiserver",
                            ("--storage", "etcd", "--etcd-servers", ",".join(etcd.client_urls), *IP_RANGE)).start()
    try:
        client = Client.from_url(dest.url)
        try:
            after = await _snapshot(client)
            # The controllers never ran (no controller-manager): nothing changed on the way.
            assert after.keys() == before.keys()
            for key, was in before.items():
                assert after[key] == was, key
            secret = await client.secrets("shop").get("s")
            assert secret["data"]["password"] == "aHVudGVyMg=="

            # New Services take the 4 IPs left in the range, none taken twice, then it is full.
            new_ips = []
            with pytest.raises(errors.APIError, match="range is full"):
                for i in range(10):
                    svc = await client.services("shop").create({"metadata": {"name": f"new{i}"},
                                                                "spec": {"ports": [{"port": 80}]}})
                    new_ips.append(svc["spec"]["clusterIP"])
            assert len(new_ips) == 4 and not set(new_ips) & ips and len(set(new_ips)) == 4
            with pytest.raises(errors.APIError, match="already allocated"):
                await client.services("shop").create({"metadata": {"name": "np2"},
                                                      "spec": {"type": "NodePort", "clusterIP": "None",
                                                               "selector": {"a": "b"},
                                                               "ports": [{"port": 81, "nodePort": 30102}]}})
            cm = await client.config_maps("shop").create({"metadata": {"name": "fresh"}})
            assert cm["metadata"]["uid"] not in {v["uid"] for v in before.values()}
        finally:
            await client.close()
    finally:
        dest.stop()

    forced = run_migrate("--from", f"sqlite:{source.data_dir}", "--to", to, "--force")
    assert forced.returncode == 0, forced.stderr

    # And back: etcd to a fresh SQLite data dir, the same keys (plus what was made on etcd).
    back = run_migrate("--from", to, "--to", f"sqlite:{tmp_path / 'back'}")
    assert back.returncode == 0, back.stderr
    back_counts = dict(line.rsplit(None, 1) for line in back.stdout.splitlines()[1:-1])
    assert back_counts["ConfigMap"] == str(int(counts["ConfigMap"]) + 1)
    assert back_counts["ranges/serviceips"] == "6" and back_counts["Secret"] == counts["Secret"]


def test_migrate_refuses_bad_locations(tmp_path):
    missing = run_migrate("--from", f"sqlite:{tmp_path / 'nothing'}", "--to", "etcd:http://127.0.0.1:1")
    assert missing.returncode == 2 and "no SQLite database" in missing.stderr
    (tmp_path / "pybernetes.db").touch()
    bad = run_migrate("--from", f"sqlite:{tmp_path}", "--to", "mysql:x")
    assert bad.returncode == 2 and "expected sqlite or etcd" in bad.stderr


# -- migrate() between two SQLite stores: paging, snapshots, --force -----------------

async def _stores(tmp_path):
    from pybernetes.storage.sqlite import SQLiteStorage

    return SQLiteStorage(str(tmp_path / "src.db")), SQLiteStorage(str(tmp_path / "dst.db"))


async def _dump(store) -> dict[str, bytes]:
    return {kv.key: kv.value for kv in (await store.list("/registry/")).items}


async def test_migrate_pages_through_one_snapshot(tmp_path):
    from pybernetes.cli.migrate import migrate
    from pybernetes.storage import NotFound

    src, dst = await _stores(tmp_path)
    try:
        for i in range(23):
            await src.create(f"/registry/core/configmaps/ns/cm{i:02d}", b'{"n":%d}' % i)
        await src.create("/registry/ranges/serviceips/10.0.0.9", b"ns/web")
        await src.create("/registry/coordination.k8s.io/leases/kube-system/l", b"{}")
        await src.create("/other/key", b"not ours")
        snapshot = await _dump(src)
        # A write landing between pages is not part of the snapshot being copied.
        real_list = src.list
        calls = 0

        async def list_and_write(prefix, **kw):
            nonlocal calls
            calls += 1
            if calls == 2:
                await src.create("/registry/core/configmaps/ns/late", b"{}")
                await src.delete("/registry/core/configmaps/ns/cm22")
            return await real_list(prefix, **kw)
        src.list = list_and_write
        result = await migrate(src, dst, page_size=5)
        assert calls == 5, "25 keys in pages of 5"
        assert await _dump(dst) == snapshot
        assert result.counts == {"ConfigMap": 23, "ranges/serviceips": 1, "Lease.coordination.k8s.io": 1}
        assert result.total == 25
        with pytest.raises(NotFound):
            await dst.get("/other/key")  # only /registry/ moves
    finally:
        await src.close()
        await dst.close()


async def test_migrate_refuses_a_non_empty_destination_unless_forced(tmp_path):
    from pybernetes.cli.migrate import migrate
    from pybernetes.storage import NotFound

    src, dst = await _stores(tmp_path)
    try:
        await src.create("/registry/core/configmaps/ns/a", b"new-a")
        await src.create("/registry/core/configmaps/ns/b", b"new-b")
        await dst.create("/registry/core/configmaps/ns/a", b"old-a")
        await dst.create("/registry/core/configmaps/ns/z", b"old-z")
        with pytest.raises(ValueError, match="already holds 2 keys"):
            await migrate(src, dst)
        assert await _dump(dst) == {"/registry/core/configmaps/ns/a": b"old-a",
                                    "/registry/core/configmaps/ns/z": b"old-z"}
        result = await migrate(src, dst, force=True)
        assert result.total == 2
        assert await _dump(dst) == {"/registry/core/configmaps/ns/a": b"new-a",
                                    "/registry/core/configmaps/ns/b": b"new-b",
                                    "/registry/core/configmaps/ns/z": b"old-z"}
        with pytest.raises(NotFound):
            await dst.get("/other/key")
    finally:
        await src.close()
        await dst.close()


def test_kind_of_key():
    from pybernetes.cli.migrate import kind_of_key

    assert kind_of_key("/registry/core/pods/default/web") == "Pod"
    assert kind_of_key("/registry/core/nodes/n1") == "Node"
    assert kind_of_key("/registry/coordination.k8s.io/leases/kube-system/x") == "Lease.coordination.k8s.io"
    assert kind_of_key("/registry/ranges/servicenodeports/30001") == "ranges/servicenodeports"
    assert kind_of_key("/registry/someday.example.com/widgets/ns/w") == "someday.example.com/widgets"

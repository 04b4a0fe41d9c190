"""The Redis Cluster the cluster stories run on, proven with plain redis-py on its own: three
masters form one cluster, a slot moves live with its keys, a pub/sub kill drops the
sharded subscribers of one node, and with a replica per master a killed master's replica takes
over its slots and keys."""

from __future__ import annotations

import pytest
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import MovedError

from tests.support.redis_cluster import SLOTS, RedisClusterSetup


def cluster_client(setup: RedisClusterSetup) -> RedisCluster:
    """redis-py's cluster client, seeded from the first node only (it learns the others)."""
    seed = ClusterNode("127.0.0.1", setup.ports[0])  # type: ignore[no-untyped-call]
    return RedisCluster(startup_nodes=[seed])


def test_three_masters_form_one_cluster_covering_every_slot(
    redis_cluster: RedisClusterSetup,
) -> None:
    hosts = ",".join(f"127.0.0.1:{port}" for port in redis_cluster.ports)
    assert redis_cluster.url == f"redis+cluster://{hosts}"
    for port in redis_cluster.ports:
        info = redis_cluster.info(port)
        assert (info["cluster_state"], info["cluster_size"]) == ("ok", "3")
        assert info["cluster_slots_assigned"] == str(SLOTS)
        assert sorted(redis_cluster.slot_map(port)) == sorted(redis_cluster.ports)
    with cluster_client(redis_cluster) as client:
        masters = {node.port for node in client.get_primaries()}
        assert masters == set(redis_cluster.ports)
        # Keys spread over the masters: each one answers for its own slots, by itself.
        for key in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
            client.set(key, key.upper())
            owner = redis_cluster.owner(redis_cluster.slot_of(key))
            assert redis_cluster.client(owner).get(key) == key.upper().encode()
            assert client.keyslot(key) == redis_cluster.slot_of(key)


def test_a_slot_moves_to_another_master_with_all_its_keys_while_in_use(
    redis_cluster: RedisClusterSetup,
) -> None:
    slot = redis_cluster.slot_of("4242:orders")
    source = redis_cluster.owner(slot)
    target = next(port for port in redis_cluster.ports if port != source)
    keys = [f"tidings:{{4242:orders}}:{part}" for part in ("n", "cache", "h")]
    keys += [f"{{4242:orders}}:bulk:{n}" for n in range(250)]  # more than one MIGRATE batch
    with cluster_client(redis_cluster) as client:
        for key in keys:
            client.set(key, key)
        client.xadd("tidings:{4242:orders}:stream", {"event": "placed"})
        assert {redis_cluster.slot_of(key) for key in keys} == {slot}
        during: list[str] = []

        def use_the_slot() -> None:
            """Half moved: redis-py still reads every key and writes new ones (ASK)."""
            assert [client.get(key) for key in keys] == [key.encode() for key in keys]
            during.append(f"{{4242:orders}}:during:{len(during)}")
            client.set(during[-1], "new")

        moved = redis_cluster.migrate_slot(slot, target, between=use_the_slot)

        assert moved == len(keys) + 1
        assert len(during) == 1 + 3  # migrating, then after each of 3 batches of 100
        assert redis_cluster.owner(slot) == target
        assert redis_cluster.keys_in_slot(slot, source) == []
        assert redis_cluster.client(target).get(keys[0]) == keys[0].encode()
        assert all(redis_cluster.client(target).get(key) == b"new" for key in during)
        with pytest.raises(MovedError) as moved_error:  # the old owner sends clients on
            redis_cluster.client(source).get(keys[0])
        assert str(moved_error.value) == f"{slot} 127.0.0.1:{target}"
        # redis-py follows the MOVED, and the slot keeps taking writes on its new master.
        assert [client.get(key) for key in keys] == [key.encode() for key in keys]
        assert client.xlen("tidings:{4242:orders}:stream") == 1
        client.set(keys[1], "after the move")
        assert redis_cluster.client(target).get(keys[1]) == b"after the move"


def test_a_pubsub_kill_drops_the_sharded_subscribers_of_that_node_only(
    redis_cluster: RedisClusterSetup,
) -> None:
    topic = "tidings:{4242:news}:c"
    owner = redis_cluster.owner(redis_cluster.slot_of(topic))
    elsewhere = next(port for port in redis_cluster.ports if port != owner)
    subscriber = redis_cluster.client(owner).pubsub()  # type: ignore[no-untyped-call]
    try:
        subscriber.ssubscribe(topic)
        confirmed = subscriber.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "ssubscribe"
        assert redis_cluster.kill_pubsub_clients(elsewhere) == 0
        assert redis_cluster.kill_pubsub_clients(owner) == 1
        assert redis_cluster.kill_pubsub_clients(owner) == 0
    finally:
        subscriber.close()


def test_a_killed_masters_replica_takes_over_its_slots_and_keys() -> None:
    with RedisClusterSetup(replicas=1) as setup:
        assert len(setup.all_ports) == 6
        assert [len(replicas) for replicas in setup.replicas.values()] == [1, 1, 1]
        for port in setup.all_ports:  # every node sees each master with its replica online
            assert setup.replicas_seen(port) == setup.replicas
        key = "tidings:{4242:orders}:n"
        slot = setup.slot_of(key)
        owner = setup.owner(slot)
        with cluster_client(setup) as client:
            client.set(key, "before")
            # Replication is asynchronous: only a write the replica acknowledged survives.
            assert setup.client(owner).wait(1, 5000) == 1

            assert setup.kill_master_of(slot) == owner
            promoted = setup.wait_for_promotion(slot, owner)

            assert promoted == setup.replicas[owner][0]
            assert setup.owner(slot) == promoted
            assert owner not in setup.masters() and owner not in setup.live_ports
            assert setup.client(promoted).get(key) == b"before"
            client.set(key, "after")  # redis-py finds the new master by itself
            assert setup.client(promoted).get(key) == b"after"

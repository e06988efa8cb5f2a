"""ContinuumRadixCache.demote: a lock's node goes to host memory only with its whole path.

SGLang's tree core evicts an unbacked device node (write_through) by deleting it, and a
node with a host-only child cannot be deleted: the scheduler panicked ("remove_leaf_from_
parent_: a deletable leaf: FreeNonLeafNode") on the live testbed when a demoted node's
parent had not been backed up (write-through leaves nodes unbacked when the host pool
was full at insert). The tree here is a recording fake of the few calls demote() makes,
so the test is about our order of operations, not SGLang's.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sglang_continuum.adapter.cache import ContinuumRadixCache

ROOT = 0


class FakeTree:
    """A root -> 1 -> 2 -> 3 path; node 3 holds the program's lock."""

    def __init__(self, backed: set[int], host_room: int) -> None:
        self.backed = set(backed)
        self.host_room = host_room  # how many more nodes a backup may write
        self.calls: list[tuple] = []
        self.evictable = 0
        # the attributes demote() reads on the cache
        self.has_host_tier = True
        self.ongoing_write_through = False
        self.tree_core = SimpleNamespace(collect_path_info=self._paths)
        # free host slots (tokens): a backup beyond them would evict host copies
        self.host_free = 10_000
        self.cache_controller = SimpleNamespace(mem_pool_host=SimpleNamespace(
            available_size=lambda: self.host_free))

    def _paths(self, ends):
        info = lambda n, kids: SimpleNamespace(  # noqa: E731
            node_id=n, num_children=kids, full_value_len=10, path_start=10 * (n - 1),
            path_end=10 * n)
        return [(info(1, 1), info(2, 1), info(3, 0)) for _ in ends]

    def is_root(self, n):
        return n == ROOT

    def is_backuped(self, n):
        return n in self.backed

    def backup_node_for_write_back(self, n):
        self.calls.append(("backup", n))
        if self.host_room <= 0:
            return False
        self.host_room -= 1
        self.backed.add(n)
        return True

    def full_evictable_size(self):
        return self.evictable

    def unlock(self, handle):
        self.calls.append(("unlock", handle.node))
        self.evictable += 10  # ours was the last lock on the node

    def inc_host_lock_ref(self, n):
        self.calls.append(("host_lock", n))
        return SimpleNamespace(to_dec_params=lambda: "receipt")

    def _demote(self, n, tracker):
        assert all(a in self.backed for a in (1, 2, 3)), "demoted below an unbacked node"
        self.calls.append(("demote", n))


def _demote(tree: FakeTree):
    return ContinuumRadixCache.demote(tree, SimpleNamespace(node=3))


def test_unbacked_ancestors_are_backed_up_from_the_top_before_the_demote():
    tree = FakeTree(backed={3}, host_room=2)
    host = _demote(tree)
    assert host is not None and host.node == 3
    assert tree.calls == [("unlock", 3), ("backup", 1), ("backup", 2), ("host_lock", 3),
                          ("demote", 3)]


@pytest.mark.parametrize("room", [0, 1, 2])
def test_no_demote_when_the_host_cannot_take_the_whole_path(room):
    # Nodes 1, 2 and 3 unbacked: three backups needed. With room for fewer, the lock is
    # released and the node stays ordinary device cache (SGLang evicts it as usual).
    tree = FakeTree(backed=set(), host_room=room)
    assert _demote(tree) is None
    assert ("demote", 3) not in tree.calls and ("host_lock", 3) not in tree.calls
    assert tree.calls[0] == ("unlock", 3)


def test_a_backed_path_needs_no_backup():
    tree = FakeTree(backed={1, 2, 3}, host_room=0)
    assert _demote(tree) is not None
    assert [c for c in tree.calls if c[0] == "backup"] == []


def test_no_backup_that_would_evict_host_copies():
    """A backup into a full host pool evicts host-only nodes (SGLang's evict_host), which
    waiting requests of the same scheduling round may have matched: live, the scheduler
    then locked a deleted node (KeyError in inc_host_lock_ref). Two unbacked nodes of 10
    tokens need 20 free slots; with 19 nothing is backed up or demoted."""
    tree = FakeTree(backed={3}, host_room=2)
    tree.host_free = 19
    assert _demote(tree) is None
    assert tree.calls == [("unlock", 3)]
    tree = FakeTree(backed={3}, host_room=2)
    tree.host_free = 20
    assert _demote(tree) is not None

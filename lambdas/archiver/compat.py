"""Where the archiver leans on a library's behaviour beyond its documented API: each trick here
names the version it was written against, and tests/integration/archiver/test_compat.py fails
the day a pinned version (requirements.txt) behaves otherwise.

- CPython 3.13's cyclic garbage collector: paused while a handler module loads, and what the
  module built frozen out of every later collection (`pause_collector`, `handler_loaded`).
- pyiceberg 0.12.0: a `Table` rebuilt through its positional constructor, with commit retries
  off for this process only (`without_commit_retries`); a fast append that adds no file still
  commits a snapshot, of the live files only (`empty_snapshot`, erasure's seal).
- Powertools for AWS Lambda 3.37.0: a CloudWatch EMF provider that keeps nothing while metrics
  are disabled (`quiet_emf_provider`).
- botocore 1.44.5: a client's retries without the retry quota its calls share
  (`without_retry_quota`).

A handler imports this module first, before anything the collector should not walk: so it
imports nothing itself until a trick is used.
"""

from __future__ import annotations

import atexit
import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )
    from pyiceberg.table import Table


# --- CPython 3.13: the garbage collector at cold start ---------------------------------------
# Importing a handler builds what lives as long as its execution environment (about 94,000
# objects for the archive function) and almost no garbage (about 400 objects), yet the cyclic
# collector would walk that growing heap dozens of times while it loads: `python -m bench
# coldstart` measures the import about 19 ms shorter with it paused. Frozen objects are out of
# every later collection too. They are handed back at exit (gc.unfreeze), so that a process that
# ends (a local run, a test) still frees them: an extension such as DuckDB's reports what is not
# freed as leaked.


def pause_collector() -> None:
    """The first statement of a handler module: no collection while the rest of it loads."""
    gc.disable()


def handler_loaded() -> None:
    """The last statement of a handler module: keep what it built out of every later
    collection, and collect again from here on."""
    gc.freeze()
    gc.enable()


atexit.register(gc.unfreeze)


# --- pyiceberg 0.12.0: one commit attempt ----------------------------------------------------
def without_commit_retries(table: Table) -> Table:
    """The same table with pyiceberg's own commit retries off, for this process only: the
    archiver retries a conflicting commit itself, re-reading which sessions the table holds
    (archiver.commit). The table's stored properties, which other writers such as the Glue
    optimizers read, are unchanged. pyiceberg offers no way to override a property per call, so
    the table is rebuilt through `Table(identifier, metadata, metadata_location, io, catalog,
    config)`, its constructor in 0.12.0."""
    from pyiceberg.table import Table, TableProperties

    properties = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    metadata = table.metadata.model_copy(update={"properties": properties})
    return Table(
        table.name(), metadata, table.metadata_location, table.io, table.catalog, table.config
    )


def empty_snapshot(table: Table, properties: dict[str, str]) -> Table:
    """A snapshot that adds nothing, with `properties` in its summary, committed once: its
    manifests list the live files only, none a delete removed (archiver.purge seals an
    erasure with it, so that expiring every snapshot before it leaves no trace of the erased
    rows, bounds included). pyiceberg 0.12.0 commits a fast append without files as such a
    snapshot; the API does not say it does. The table after the commit."""
    transaction = without_commit_retries(table).transaction()
    with transaction.update_snapshot(snapshot_properties=properties).fast_append():
        pass
    return transaction.commit_transaction()


# --- Powertools 3.37.0: metrics disabled means none kept ---------------------------------------
def quiet_emf_provider(*, namespace: str, service: str) -> AmazonCloudWatchEMFProvider:
    """CloudWatch EMF that keeps and prints nothing while metrics are disabled
    (POWERTOOLS_METRICS_DISABLED, as the local pipeline runs). Powertools 3.37.0 then stops
    `flush_metrics` from printing, but not `add_metric` from keeping the values, and
    `add_metric` prints them anyway once a metric holds 100 (in a warm container: at the 100th
    invocation). The subclass is made here, on first use, so that importing this module loads
    no Powertools."""
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    class QuietEMFProvider(AmazonCloudWatchEMFProvider):
        def add_metric(self, *args: Any, **kwargs: Any) -> None:
            if not is_metrics_disabled():
                super().add_metric(*args, **kwargs)

        def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
            if not is_metrics_disabled():
                super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)

    return QuietEMFProvider(namespace=namespace, service=service)


# --- botocore 1.44.5: retries without a shared quota --------------------------------------------
class _NoRetryQuota:
    def acquire_retry_quota(self, context: Any) -> bool:
        return True

    def release_retry_quota(self, context: Any, http_response: Any, **kwargs: Any) -> None:
        pass


def without_retry_quota(client: Any) -> Any:
    """The client, its calls each retried up to its `max_attempts` whatever the others' luck.
    botocore's standard and adaptive modes share one retry quota per client (500 units, 5 a
    throttled retry, 14 another): a batch of sessions whose calls meet a burst of 5xx empties
    it, and from then every session's calls fail at their first error, neighbours included. The
    archive worker's calls are paced by its own rate limiters (archiver.ivs) and a failed
    session is tried again later with growing delays (archiver.invocation), so the quota only
    spreads one session's trouble to the others. botocore offers no setting for it: its
    `RetryHandler`, registered under the unique id `retry-config-<service>` on `needs-retry`,
    keeps the quota in `_retry_quota`, replaced here."""
    service = client.meta.service_model.service_id.hyphenize()
    emitter = client.meta.events._emitter
    registered = emitter._unique_id_handlers[f"retry-config-{service}"]["handler"]
    registered.__self__._retry_quota = _NoRetryQuota()
    return client

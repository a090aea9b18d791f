"""The digest's chart of the day: escalations per hour, and the wait-to-take distribution.

Drawn with matplotlib when the optional ``charts`` extra is installed
(``pip install 'baton[charts]'``); without it the digest goes out as text alone.
"""

import io

from storage.models import WAIT_BUCKETS, Digest

BUCKET_LABELS = ("<1m", "1-5m", "5-15m", "15-60m", "1-4h", ">4h")
assert len(BUCKET_LABELS) == len(WAIT_BUCKETS) + 1


def day_chart(digest: Digest) -> bytes | None:
    """A PNG of the day, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: render to memory
        from matplotlib import pyplot
    except ImportError:
        return None
    figure, (hourly, waits) = pyplot.subplots(1, 2, figsize=(11, 3.6), dpi=100)
    try:
        hours = list(range(len(digest.per_hour)))
        hourly.bar(hours, digest.per_hour, color="#4a90d9")
        hourly.set_title("Escalations created per hour")
        hourly.set_xlabel(f"hour ({digest.day.timezone})")
        hourly.set_xticks(hours[::3])
        waits.bar(BUCKET_LABELS, digest.wait_buckets, color="#e8a33d")
        waits.set_title("Wait to take")
        for axes in (hourly, waits):
            axes.spines[["top", "right"]].set_visible(False)
            axes.yaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)

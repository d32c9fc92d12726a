"""Server-side SVG for the admin's loss curve (no inline script: the CSP forbids it)."""

from django.utils.html import format_html, format_html_join


def loss_curve_svg(history: list[dict], *, width: int = 480, height: int = 160) -> str:
    points = [(float(p["step"]), float(p["loss"])) for p in history or [] if p.get("loss") is not None]
    if not points:
        return format_html('<span class="training-loss-empty">{}</span>', "No loss recorded yet.")
    pad = 28
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1e-6

    def sx(x):
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y):
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    labels = format_html_join(
        "", '<text x="{}" y="{}" font-size="10" fill="#555">{}</text>',
        [(2, sy(y1) + 4, f"{y1:.3f}"), (2, sy(y0) + 4, f"{y0:.3f}"),
         (sx(x0), height - 8, f"step {int(x0)}"), (sx(x1) - 40, height - 8, f"step {int(x1)}")],
    )
    return format_html(
        '<svg class="training-loss-curve" role="img" aria-label="{}" width="{}" height="{}" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">'
        '<rect x="0" y="0" width="{}" height="{}" fill="#fafafa" stroke="#ddd"/>'
        '<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{}"/>{}</svg>',
        f"Training loss from {ys[0]:.3f} to {ys[-1]:.3f} over {len(points)} points",
        width, height, width, height, width, height, coords, labels,
    )


def progress_bar(percent: int, label: str) -> str:
    return format_html(
        '<progress class="training-progress" max="100" value="{}" title="{}">{}%</progress> {}',
        percent, label, percent, label,
    )

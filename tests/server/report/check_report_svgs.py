#!/usr/bin/env python3
"""Checks the SVG charts of a fedlearn run report (report_render_test).

Every <svg> element in the HTML must parse as XML and carry a viewBox; every
series polyline must have one point per round; every coordinate written
(polyline points, line ends, rects, circles, untransformed text) must lie
inside the viewBox. Prints each problem; exit 1 if there is one.

Usage: check_report_svgs.py REPORT.html ROUNDS MIN_CHARTS
"""
import re
import sys
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"


def coordinates(el, tag):
    f = lambda name, default=0.0: float(el.get(name, default))
    if tag == "polyline":
        return [tuple(map(float, p.split(",")))
                for p in el.get("points", "").split()]
    if tag == "line":
        return [(f("x1"), f("y1")), (f("x2"), f("y2"))]
    if tag == "rect":
        return [(f("x"), f("y")),
                (f("x") + f("width"), f("y") + f("height"))]
    if tag == "circle":
        return [(f("cx"), f("cy"))]
    if tag == "text" and el.get("transform") is None:
        return [(f("x"), f("y"))]
    return []


def check_svg(index, text, rounds):
    problems, series = [], 0
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        return [f"svg {index}: not well-formed XML: {e}"], 0
    box = root.get("viewBox")
    if box is None:
        return [f"svg {index}: no viewBox"], 0
    x0, y0, width, height = map(float, box.split())
    for el in root.iter():
        tag = el.tag.replace(SVG_NS, "")
        points = coordinates(el, tag)
        if tag == "polyline" and "series" in el.get("class", "").split():
            series += 1
            if len(points) != rounds:
                problems.append(f"svg {index}: polyline "
                                f"{el.get('data-series')!r} has {len(points)} "
                                f"points, expected {rounds}")
        for x, y in points:
            if not (x0 <= x <= x0 + width and y0 <= y <= y0 + height):
                problems.append(f"svg {index}: <{tag}> at ({x}, {y}) is "
                                f"outside the viewBox {box}")
    return problems, series


def main():
    path, rounds, min_charts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    html = open(path, encoding="utf-8").read()
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    problems, series = [], 0
    if len(svgs) < min_charts:
        problems.append(f"{len(svgs)} charts, expected at least {min_charts}")
    for i, text in enumerate(svgs):
        p, s = check_svg(i, text, rounds)
        problems += p
        series += s
    if series == 0:
        problems.append("no series polyline in any chart")
    for p in problems:
        print(p)
    print(f"{len(svgs)} charts, {series} series polylines, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

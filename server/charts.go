package server

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/freight-portal/freight/web"
)

// The charts of the analytics page are SVG drawn by the template from
// geometry computed here: the Content-Security-Policy allows no script
// to draw them and no inline style, and SVG presentation attributes
// (x, y, width, height, points) are neither. Each bar carries a <title>
// that names its figure; a table of the same figures follows each chart.

// Sizes of the charts' view boxes, in SVG user units; CSS scales them to
// the width of the page.
const (
	colW, colH      = 720.0, 240.0 // columns over time
	colLeft, colTop = 4.0, 8.0     // the plot area inside
	colPlotH        = colH - 2*colTop
	colPlotW        = colW - 2*colLeft
	barsLabelChars  = 60
	maxBarsInChart  = 10
	pointsUpToNDays = 92 // draw a marker per day on the line up to this many days
)

// svgNum writes a coordinate with one decimal.
func svgNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceCeil rounds up to 2, 4, 6, 8 or 10 times a power of ten (2 at
// least), for the top of an axis whose middle is then a round number too.
func niceCeil(v float64) float64 {
	if v <= 2 {
		return 2
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{2, 4, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// chartBar is one bar of a chart, or one marker of a line.
type chartBar struct {
	X, Y, W, H string
	// Title is the bar's figure in words, for the SVG <title>.
	Title string
	// Label and Value are written beside the bars of horizontal charts.
	Label, Value string
}

// columnChart is a chart of one figure per day: bars, or a line with a
// marker per day.
type columnChart struct {
	Title, Desc string
	Bars        []chartBar
	Line        string // polyline points, for a line chart
	Markers     []chartBar
	Max         string // the label of the top of the axis
	First, Last string // the labels of the first and the last day
	// Grid lines: top and middle, with the middle's label.
	TopY, MidY, BaseY, Mid string
	Width, Height          string
	AxisX, AxisRight       string
}

// dayPoint is one day's figure.
type dayPoint struct {
	Day   string
	Value int64
}

// newColumnChart lays out one figure per day as bars (line false) or as
// a line. format writes a value for people.
func newColumnChart(title, desc string, points []dayPoint, line bool, format func(int64) string) columnChart {
	c := columnChart{Title: title, Desc: desc, Width: svgNum(colW), Height: svgNum(colH),
		AxisX: svgNum(colLeft), AxisRight: svgNum(colLeft + colPlotW),
		BaseY: svgNum(colTop + colPlotH), TopY: svgNum(colTop), MidY: svgNum(colTop + colPlotH/2)}
	var most int64
	for _, p := range points {
		most = max(most, p.Value)
	}
	top := niceCeil(float64(most))
	c.Max, c.Mid = format(int64(top)), format(int64(top/2))
	if len(points) == 0 {
		return c
	}
	c.First, c.Last = points[0].Day, points[len(points)-1].Day
	slot := colPlotW / float64(len(points))
	var pts []byte
	for i, p := range points {
		h := colPlotH * float64(p.Value) / top
		y := colTop + colPlotH - h
		title := p.Day + ": " + format(p.Value)
		if line {
			x := colLeft + slot*(float64(i)+0.5)
			if i > 0 {
				pts = append(pts, ' ')
			}
			pts = append(pts, svgNum(x)+","+svgNum(y)...)
			if len(points) <= pointsUpToNDays {
				c.Markers = append(c.Markers, chartBar{X: svgNum(x), Y: svgNum(y), Title: title})
			}
			continue
		}
		w := max(slot*0.8, 1)
		c.Bars = append(c.Bars, chartBar{X: svgNum(colLeft + slot*float64(i) + (slot-w)/2), Y: svgNum(y), W: svgNum(w), H: svgNum(h), Title: title})
	}
	c.Line = string(pts)
	return c
}

// barChart is a chart of horizontal bars, one per item, the largest
// first. Each item is a row of the page, its label and value text of the
// page, and its bar a small SVG stretched to the row's width: the text
// keeps its size on a phone, which text inside one scaled SVG would not.
type barChart struct {
	Title string
	Bars  []chartBar
}

// barItem is one item of a bar chart.
type barItem struct {
	Label string
	Value int64
	Title string
}

// newBarChart lays out up to maxBarsInChart items as horizontal bars
// whose widths, in a view box 100 wide, are their share of the largest.
func newBarChart(title string, items []barItem, format func(int64) string) barChart {
	if len(items) > maxBarsInChart {
		items = items[:maxBarsInChart]
	}
	c := barChart{Title: title}
	var most int64
	for _, it := range items {
		most = max(most, it.Value)
	}
	for _, it := range items {
		w := 0.0
		if most > 0 {
			w = 100 * float64(it.Value) / float64(most)
		}
		c.Bars = append(c.Bars, chartBar{W: svgNum(max(w, 0.5)), Label: shorten(it.Label, barsLabelChars), Value: format(it.Value), Title: it.Title})
	}
	return c
}

// shorten cuts a label to n characters, with an ellipsis; the full text
// is in the bar's title and the table.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func formatCount(n int64) string { return strconv.FormatInt(n, 10) }

func formatBytes(n int64) string { return web.FormatBytes(n) }

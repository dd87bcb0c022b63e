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
	colW, colH       = 720.0, 220.0 // columns over time
	colLeft, colTop  = 56.0, 12.0   // the plot area inside
	colPlotH         = 170.0
	colPlotW         = colW - colLeft - 8
	barsW            = 400.0 // horizontal bars, one row per item
	barsRowH         = 40.0
	barsLabelChars   = 46
	maxBarsInChart   = 10
	pointsUpToNDays  = 92 // draw a marker per day on the line up to this many days
	chartNumberWidth = 64.0
)

// svgNum writes a coordinate with one decimal.
func svgNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for the top of
// an axis; 1 at least.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
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
	Label, Value           string
	LabelY, ValueX, ValueY string
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
// first.
type barChart struct {
	Title, Desc   string
	Bars          []chartBar
	Width, Height string
}

// barItem is one item of a bar chart.
type barItem struct {
	Label string
	Value int64
	Title string
}

// newBarChart lays out up to maxBarsInChart items as horizontal bars,
// each under its label, with its value at its end.
func newBarChart(title, desc string, items []barItem, format func(int64) string) barChart {
	if len(items) > maxBarsInChart {
		items = items[:maxBarsInChart]
	}
	c := barChart{Title: title, Desc: desc, Width: svgNum(barsW), Height: svgNum(max(barsRowH*float64(len(items)), 1))}
	var most int64
	for _, it := range items {
		most = max(most, it.Value)
	}
	span := barsW - chartNumberWidth
	for i, it := range items {
		w := 0.0
		if most > 0 {
			w = span * float64(it.Value) / float64(most)
		}
		y := barsRowH * float64(i)
		c.Bars = append(c.Bars, chartBar{
			X: "0", Y: svgNum(y + 18), W: svgNum(max(w, 1)), H: "16",
			Label: shorten(it.Label, barsLabelChars), LabelY: svgNum(y + 13),
			Value: format(it.Value), ValueX: svgNum(max(w, 1) + 6), ValueY: svgNum(y + 31), Title: it.Title,
		})
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

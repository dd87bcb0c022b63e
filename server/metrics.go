package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/freight-portal/freight"
)

// metrics are the server's Prometheus metrics, on a registry of its own so
// that two servers in one process (tests, above all) count apart.
//
// Labels hold only values from small fixed sets: route patterns, methods,
// status codes, delivery modes, decision reasons and job kinds. Never a
// path, an id, an address or an email, which would let the number of
// series grow without bound and would show who uses the portal.
//
// GET /metrics is public by default, like /healthz: the numbers name no
// tenant, but they show how busy the portal is, so operators should keep
// the path from the internet at their proxy or firewall, or set
// Config.MetricsToken.
type metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	downloadBytes  *prometheus.CounterVec
	grants         *prometheus.CounterVec
	uploads        *prometheus.CounterVec
	signInFailures *prometheus.CounterVec
	lockouts       *prometheus.CounterVec
	jobsFailed     *prometheus.CounterVec
}

// Label values of the metrics.
const (
	grantIssued  = "issued"
	grantRefused = "refused"

	failPassword = "password" // a wrong password, or an unknown email address
	failMFA      = "mfa"      // a wrong second-factor or recovery code
	failLocked   = "locked"   // an attempt during a lockout
)

// maxQueuedCount bounds the work of counting queued jobs on a scrape: past
// it the gauge reads maxQueuedCount, which is alarm enough.
const maxQueuedCount = 20 * freight.MaxPageSize

func newMetrics(store freight.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "freight_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		downloadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_download_bytes_total",
			Help: "Bytes of artifacts delivered, by delivery mode (origin: sent by this server; s3, cloudfront: redirected to storage; edge: reported by edges).",
		}, []string{"mode"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_grants_total",
			Help: "Download grants asked for, by result (issued or refused) and the access decision's reason.",
		}, []string{"result", "reason"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_uploads_completed_total",
			Help: "Upload verifications that ended, by result: ok, or failed (the file rejected, or the upload open again).",
		}, []string{"result"}),
		signInFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_signin_failures_total",
			Help: "Failed sign-in attempts, by kind (password, mfa, locked).",
		}, []string{"kind"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_lockouts_total",
			Help: "Failures that locked an account or email address out, by kind (password, mfa).",
		}, []string{"kind"}),
		jobsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "freight_jobs_failed_total",
			Help: "Failed attempts of background jobs, by job kind.",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.downloadBytes, m.grants, m.uploads,
		m.signInFailures, m.lockouts, m.jobsFailed, queuedCollector{store},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// queuedCollector reads the number of queued jobs from the store on each
// scrape, so that every replica reports the one shared queue.
type queuedCollector struct{ store freight.Store }

var queuedDesc = prometheus.NewDesc("freight_jobs_queued", "Background jobs waiting to run (all replicas share the queue).", nil, nil)

func (c queuedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queuedDesc }

func (c queuedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := countQueued(ctx, c.store)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queuedDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(n))
}

func countQueued(ctx context.Context, store freight.Store) (int, error) {
	f := freight.JobFilter{State: freight.JobQueued, Page: freight.Page{Limit: freight.MaxPageSize}}
	n := 0
	for n < maxQueuedCount {
		js, next, err := store.Jobs(ctx, f)
		if err != nil {
			return 0, err
		}
		n += len(js)
		if next == "" {
			break
		}
		f.After = next
	}
	return min(n, maxQueuedCount), nil
}

// serveMetrics answers GET /metrics in the Prometheus text format. A
// metric that cannot be read (the queue, when the database is down) is
// left out and the rest is served. With Config.MetricsToken set, the
// caller must send it as a bearer token.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsToken != "" && !s.metricsAuthorized(r) {
		s.writeError(w, r, freight.Errorf(freight.EUNAUTHORIZED, "metrics need the metrics bearer token"))
		return
	}
	s.metrics.handler.ServeHTTP(w, r)
}

// observeRequest counts an answered request under the pattern of the route
// that served it (r.Pattern as the innermost ServeMux set it), never under
// its path.
func (m *metrics) observeRequest(r *http.Request, status int, d time.Duration) {
	route := r.Pattern
	if route == "" {
		route = "none"
	}
	m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// methodLabel keeps the method label to the standard methods: a client
// may send any token as its method.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// Metrics returns the server's metrics registry, where other parts of the
// program may register their own collectors.
func (s *Server) Metrics() *prometheus.Registry { return s.metrics.reg }

// jobFailed counts a failed attempt of a job; the queue calls it.
func (m *metrics) jobFailed(kind string) { m.jobsFailed.WithLabelValues(kind).Inc() }

// signInFailed counts a failed sign-in of kind, and the lockout it started
// when locked.
func (m *metrics) signInFailed(kind string, locked bool) {
	m.signInFailures.WithLabelValues(kind).Inc()
	if locked {
		m.lockouts.WithLabelValues(kind).Inc()
	}
}

// metricsAuthorized reports whether r carries the metrics token. The
// hashes are compared, in constant time, so that neither the token's
// bytes nor its length show in the time taken.
func (s *Server) metricsAuthorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(s.cfg.MetricsToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

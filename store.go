package freight

import (
	"context"
	"time"
)

// Store is the metadata store. Implementations live in adapter packages
// (sqlstore for SQLite and PostgreSQL) and must pass the conformance suite in
// storetest.
//
// Error contract, for every method:
//   - ENOTFOUND when an object named by id, slug or email does not exist;
//   - ECONFLICT when a uniqueness rule is violated (slug, email, version,
//     filename, organization×product) or a delete is refused because other
//     objects depend on it, or a state transition is not allowed;
//   - EINVALID when an argument fails validation (the store validates what it
//     writes; callers may validate earlier for better messages);
//   - EUNAVAILABLE or EINTERNAL when the database fails.
//
// A Store does no authorization: callers decide who may call what.
// Methods that return a slice never return nil, nil for a missing object;
// they return ENOTFOUND.
type Store interface {
	// Tx runs fn in one transaction on a Store bound to it. If fn returns an
	// error, or panics, nothing it did is kept. Calls on the outer Store from
	// inside fn run outside the transaction. Nested Tx calls run inside the
	// same transaction.
	Tx(ctx context.Context, fn func(tx Store) error) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Organizations. Deleting an organization deletes its memberships,
	// entitlements, organization tokens and webhooks; its audit events stay. An
	// organization that has licenses, in any state, cannot be deleted
	// (ECONFLICT): licenses are legal history.
	CreateOrganization(ctx context.Context, o *Organization) error
	Organization(ctx context.Context, id string) (*Organization, error)
	OrganizationBySlug(ctx context.Context, slug string) (*Organization, error)
	Organizations(ctx context.Context, f OrganizationFilter) ([]*Organization, string, error)
	// UpdateOrganization locks the row, passes a copy to fn and writes what
	// fn returns. Concurrent updates of one row are serialized, so
	// read-modify-write in fn is safe. The id and created time cannot change.
	UpdateOrganization(ctx context.Context, id string, fn func(*Organization) error) (*Organization, error)
	DeleteOrganization(ctx context.Context, id string) error

	// Users. Deleting a user deletes its memberships, tokens, sessions,
	// tickets, recovery codes and identities. UpdateUser writes Security
	// too: sign-in counters go through it, serialised by its row lock.
	CreateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	Users(ctx context.Context, f UserFilter) ([]*User, string, error)
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	DeleteUser(ctx context.Context, id string) error

	// Memberships. PutMembership creates the membership or changes its role;
	// ENOTFOUND if the user or the organization does not exist.
	PutMembership(ctx context.Context, m *Membership) error
	Memberships(ctx context.Context, f MembershipFilter) ([]*Membership, string, error)
	DeleteMembership(ctx context.Context, userID, orgID string) error

	// Products. Deleting a product that has any release or license is refused with
	// ECONFLICT: draft releases can be deleted first, but a product that
	// ever published stays, because downloads and licenses refer to it.
	// Its entitlements are deleted with it.
	CreateProduct(ctx context.Context, p *Product) error
	Product(ctx context.Context, id string) (*Product, error)
	ProductBySlug(ctx context.Context, slug string) (*Product, error)
	Products(ctx context.Context, f ProductFilter) ([]*Product, string, error)
	UpdateProduct(ctx context.Context, id string, fn func(*Product) error) (*Product, error)
	DeleteProduct(ctx context.Context, id string) error

	// Releases. A release is created as a draft. Deleting is allowed for
	// drafts only (ECONFLICT otherwise: a published release is yanked, never
	// deleted, so that the download record stays meaningful) and deletes its
	// artifacts, unless one of them has download grants (ECONFLICT: grants
	// are history).
	CreateRelease(ctx context.Context, r *Release) error
	Release(ctx context.Context, id string) (*Release, error)
	ReleaseByVersion(ctx context.Context, productID, version string) (*Release, error)
	Releases(ctx context.Context, f ReleaseFilter) ([]*Release, string, error)
	UpdateRelease(ctx context.Context, id string, fn func(*Release) error) (*Release, error)
	DeleteRelease(ctx context.Context, id string) error

	// Artifacts. ENOTFOUND on create if the release does not exist.
	CreateArtifact(ctx context.Context, a *Artifact) error
	Artifact(ctx context.Context, id string) (*Artifact, error)
	Artifacts(ctx context.Context, f ArtifactFilter) ([]*Artifact, string, error)
	UpdateArtifact(ctx context.Context, id string, fn func(*Artifact) error) (*Artifact, error)
	DeleteArtifact(ctx context.Context, id string) error

	// Entitlements: at most one per organization and product (ECONFLICT).
	// ENOTFOUND on create if the organization or the product does not exist.
	CreateEntitlement(ctx context.Context, e *Entitlement) error
	Entitlement(ctx context.Context, id string) (*Entitlement, error)
	Entitlements(ctx context.Context, f EntitlementFilter) ([]*Entitlement, string, error)
	UpdateEntitlement(ctx context.Context, id string, fn func(*Entitlement) error) (*Entitlement, error)
	DeleteEntitlement(ctx context.Context, id string) error

	// Tokens. RevokeToken is idempotent and keeps the first revocation time.
	// TouchToken records a use; it is best effort and may skip a write when
	// the last recorded use is recent.
	CreateToken(ctx context.Context, t *Token) error
	Token(ctx context.Context, id string) (*Token, error)
	Tokens(ctx context.Context, f TokenFilter) ([]*Token, string, error)
	RevokeToken(ctx context.Context, id string, at time.Time) (*Token, error)
	TouchToken(ctx context.Context, id string, at time.Time) error

	// Sessions. DeleteSessions deletes every session of a user but the
	// one named by except ("" for none) and returns how many it deleted;
	// PruneSessions deletes the sessions that expired before the given
	// time. TouchSession records a use (best effort, like TouchToken).
	CreateSession(ctx context.Context, s *Session) error
	Session(ctx context.Context, id string) (*Session, error)
	Sessions(ctx context.Context, userID string) ([]*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteSessions(ctx context.Context, userID, except string) (int, error)
	PruneSessions(ctx context.Context, before time.Time) (int, error)

	// Tickets: single-use links. UseTicket marks the ticket used at the
	// given time and returns it, atomically across replicas: ECONFLICT if
	// it was used already (the first use wins). Expiry is the caller's
	// to check. ExpireTickets marks every unused ticket of the kind for
	// the user used, so that a new reset link voids the older ones.
	CreateTicket(ctx context.Context, t *Ticket) error
	Ticket(ctx context.Context, id string) (*Ticket, error)
	UseTicket(ctx context.Context, id string, at time.Time) (*Ticket, error)
	ExpireTickets(ctx context.Context, userID string, kind TicketKind, at time.Time) error
	// Invitations lists the pending invitations the filter selects (see
	// InvitationFilter), ordered by id, which is creation order; ENOTFOUND
	// if the filter names an organization that does not exist.
	// RevokeTicket withdraws an unused ticket at the given time (now when
	// zero) and returns it: UseTicket then refuses it with ECONFLICT.
	// Withdrawing twice keeps the first time; withdrawing a used ticket is
	// ECONFLICT and changes nothing.
	Invitations(ctx context.Context, f InvitationFilter) ([]*Ticket, string, error)
	RevokeTicket(ctx context.Context, id string, at time.Time) (*Ticket, error)

	// Recovery codes, stored as hashes. SetRecoveryCodes replaces all of
	// a user's codes. UseRecoveryCode marks the unused code with the hash
	// used, atomically; ENOTFOUND when there is no such unused code.
	SetRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, at time.Time) error
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)

	// Identities at external OpenID providers. CreateIdentity fails with
	// ECONFLICT if the issuer and subject are linked already; deleting a
	// user deletes its identities.
	CreateIdentity(ctx context.Context, i *Identity) error
	Identity(ctx context.Context, issuer, subject string) (*Identity, error)
	Identities(ctx context.Context, userID string) ([]*Identity, error)

	// Settings: one row, created with zero values by the migration.
	Settings(ctx context.Context) (*Settings, error)
	UpdateSettings(ctx context.Context, fn func(*Settings) error) (*Settings, error)

	// Uploads. ENOTFOUND on create if the artifact does not exist; deleting
	// an artifact deletes its uploads (abort their staging areas first).
	CreateUpload(ctx context.Context, u *Upload) error
	Upload(ctx context.Context, id string) (*Upload, error)
	Uploads(ctx context.Context, f UploadFilter) ([]*Upload, string, error)
	UpdateUpload(ctx context.Context, id string, fn func(*Upload) error) (*Upload, error)

	// BlobReferenced reports whether any artifact, in any state, names the
	// blob digest as its SHA256.
	BlobReferenced(ctx context.Context, digest string) (bool, error)
	// LockBlob takes the lock on a blob digest for owner until the given
	// time. It excludes the garbage collector (which deletes unreferenced
	// blobs) from an upload that is about to reference one, across
	// replicas. Taking a lock held by another owner fails with ECONFLICT
	// unless that lock has expired; the same owner may take it again to
	// extend it. UnlockBlob releases it; releasing a lock not held by
	// owner does nothing.
	LockBlob(ctx context.Context, digest, owner string, until time.Time) error
	UnlockBlob(ctx context.Context, digest, owner string) error

	// Signing keys. CreateSigningKey stores a new key (ECONFLICT if the id
	// exists). SigningKeys lists the keys of a purpose, newest first,
	// retired ones included. RetireSigningKey is idempotent and keeps the
	// first retirement time.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	SigningKeys(ctx context.Context, purpose string) ([]*SigningKey, error)
	RetireSigningKey(ctx context.Context, id string, at time.Time) (*SigningKey, error)

	// Grants. ReserveGrantBytes adds n to the bytes served of a grant if
	// the total stays within its budget, atomically across replicas, and
	// returns the grant after the change; ETOOLARGE when the budget would
	// be exceeded (nothing is added). A negative n gives back bytes
	// reserved but not sent (never below zero).
	CreateGrant(ctx context.Context, g *Grant) error
	Grant(ctx context.Context, id string) (*Grant, error)
	ReserveGrantBytes(ctx context.Context, id string, n int64) (*Grant, error)
	// GrantUsage counts the grants issued to an organization for a product
	// at or after since, and the bytes they name (their sizes).
	GrantUsage(ctx context.Context, orgID, productID string, since time.Time) (Usage, error)
	// CompleteGrant sets the grant's CompletedAt to at when its downloads
	// have completed it, by the rule of DownloadCounts (one request sent
	// the whole file, or its requests together sent at least its size),
	// and it was not set before. It reports whether this call set it: of
	// callers racing on one grant, on any replica, exactly one does, once
	// the downloads recorded complete it. Call it in the transaction that
	// records a download of the grant, after recording it, so that what
	// the completion causes commits with it. Its cost does not grow with
	// the downloads the grant has: the store keeps their totals as
	// CreateDownload and FinishDownload record them. ENOTFOUND if the
	// grant does not exist.
	CompleteGrant(ctx context.Context, id string, at time.Time) (bool, error)

	// Downloads: CreateDownload records a request as it starts;
	// FinishDownload records how it ended (idempotent: the last call wins).
	// Downloads lists newest first; a filter naming a missing object gives
	// an empty list, not ENOTFOUND, because downloads are history that
	// outlives organizations and tokens.
	CreateDownload(ctx context.Context, d *Download) error
	FinishDownload(ctx context.Context, id string, bytes int64, completed bool, at time.Time) error
	Downloads(ctx context.Context, f DownloadFilter) ([]*Download, string, error)
	// DownloadStats counts the downloads the filter selects, in total and
	// by its group (see DownloadCounts for what is counted), aggregated by
	// the database. GroupDay rows are every UTC day of the range in order,
	// days without downloads included as zeros; EINVALID without Since and
	// Until, with Until not after Since, or for more than MaxStatsDays
	// days. Other groups are ordered by downloads, then bytes, most first,
	// then key, and cut at the filter's limit. Like Downloads, a filter
	// naming a missing object counts nothing rather than failing.
	DownloadStats(ctx context.Context, f DownloadStatsFilter) (*DownloadStats, error)

	// Licenses. CreateLicense stores an issued license (ENOTFOUND if the
	// organization, the product or the superseded license is missing); it
	// does not mark the superseded license, which the caller does with
	// UpdateLicense in the same transaction. Licenses lists newest first,
	// without File. UpdateLicense changes the state fields only (State,
	// RevokedAt, RevokeReason; EINVALID for anything else): active →
	// superseded | revoked, superseded → revoked; a revoked license never
	// changes again (ECONFLICT). Only a revoked license has RevokedAt and
	// RevokeReason.
	CreateLicense(ctx context.Context, l *License) error
	License(ctx context.Context, id string) (*License, error)
	Licenses(ctx context.Context, f LicenseFilter) ([]*License, string, error)
	UpdateLicense(ctx context.Context, id string, fn func(*License) error) (*License, error)

	// Edges. CreateEdge stores an edge with the hash of its credential
	// (EINVALID without one; ECONFLICT for a name in use). UpdateEdge works
	// as UpdateOrganization; the id, created time and secret hash cannot
	// change. DeleteEdge removes the edge, and with it its credential.
	CreateEdge(ctx context.Context, e *Edge) error
	Edge(ctx context.Context, id string) (*Edge, error)
	Edges(ctx context.Context, f EdgeFilter) ([]*Edge, string, error)
	UpdateEdge(ctx context.Context, id string, fn func(*Edge) error) (*Edge, error)
	DeleteEdge(ctx context.Context, id string) error

	// Edge prefetch: the blobs each edge was asked to cache ahead of
	// demand (see EdgePrefetch).
	//
	// ReconcileEdgePrefetch brings the rows of the edges in scope in line
	// with what every edge should cache: the blobs of the available
	// artifacts of releases published at or after since, and not yanked,
	// of products whose PrefetchEdges is on. It adds the rows missing for
	// the releases in scope, requested at now, and deletes the rows of the
	// edges in scope whose blob no such release wants any more, done ones
	// too; it returns how many it added and deleted. A scope naming an
	// object that does not exist reconciles nothing for it (no
	// ENOTFOUND: the object may have been deleted since). It locks the
	// edges in scope before it reads what is wanted, so that
	// reconciliations across replicas run one after the other and none
	// deletes a row that a later one added. Called on the Store of a
	// transaction, it commits or rolls back with it.
	//
	// EdgePrefetches lists the rows the filter selects. EdgePrefetch
	// returns one edge's row for a digest, pending or done (ENOTFOUND
	// when there is none). MarkEdgePrefetched sets DoneAt to at on the
	// edge's pending rows of the digests, ignoring digests it has no
	// pending row for, and returns how many it marked. MarkEdgeEvicted
	// sets DoneAt back to nil on the edge's done rows of the digests (its
	// cache dropped them), ignoring digests it has no done row for, and
	// returns how many it changed: the rows are pending again, and the
	// edge is asked for them again. EdgePrefetchCounts
	// sums up the rows of each edge named (an edge without rows, or one
	// that does not exist, counts zero). Deleting an edge deletes its
	// rows.
	ReconcileEdgePrefetch(ctx context.Context, scope EdgePrefetchScope, since, now time.Time) (added, deleted int, err error)
	EdgePrefetches(ctx context.Context, f EdgePrefetchFilter) ([]*EdgePrefetch, error)
	EdgePrefetch(ctx context.Context, edgeID, digest string) (*EdgePrefetch, error)
	MarkEdgePrefetched(ctx context.Context, edgeID string, digests []string, at time.Time) (int, error)
	MarkEdgeEvicted(ctx context.Context, edgeID string, digests []string) (int, error)
	EdgePrefetchCounts(ctx context.Context, edgeIDs []string) (map[string]EdgePrefetchCounts, error)

	// Webhooks. CreateWebhook stores an endpoint with its signing secret
	// (EINVALID without one; ENOTFOUND if the organization is missing).
	// UpdateWebhook works as UpdateOrganization; the id, the organization,
	// the creator and the created time cannot change, the secrets can
	// (rotation). Deleting an organization deletes its webhooks; deleting
	// a webhook deletes its deliveries and their attempts.
	CreateWebhook(ctx context.Context, w *Webhook) error
	Webhook(ctx context.Context, id string) (*Webhook, error)
	Webhooks(ctx context.Context, f WebhookFilter) ([]*Webhook, string, error)
	UpdateWebhook(ctx context.Context, id string, fn func(*Webhook) error) (*Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error

	// Webhook deliveries: one event sent to one webhook, and its attempts.
	// CreateWebhookDelivery gives an id when there is none (ENOTFOUND if
	// the webhook is missing). WebhookDeliveries lists one webhook's,
	// newest first (ENOTFOUND for a missing webhook). UpdateWebhookDelivery
	// changes State, Attempts, LastStatus, LastError and JobID only.
	// AddWebhookAttempt appends an attempt (ENOTFOUND if the delivery is
	// missing); WebhookAttempts lists a delivery's, oldest first.
	CreateWebhookDelivery(ctx context.Context, d *WebhookDelivery) error
	WebhookDelivery(ctx context.Context, id string) (*WebhookDelivery, error)
	WebhookDeliveries(ctx context.Context, f WebhookDeliveryFilter) ([]*WebhookDelivery, string, error)
	UpdateWebhookDelivery(ctx context.Context, id string, fn func(*WebhookDelivery) error) (*WebhookDelivery, error)
	AddWebhookAttempt(ctx context.Context, a *WebhookAttempt) error
	WebhookAttempts(ctx context.Context, deliveryID string) ([]*WebhookAttempt, error)

	// Audit events: append-only, listed newest first.
	CreateAuditEvent(ctx context.Context, e *AuditEvent) error
	AuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, string, error)

	// Jobs: the durable queue of background work (see Job).
	//
	// EnqueueJob stores a queued job, giving it an id, its times and, when
	// RunAt is zero, the current time as RunAt. Called on the Store of a
	// transaction, the job commits or rolls back with the change that
	// caused it.
	//
	// ClaimJobs gives worker up to n jobs of the kinds that are due at
	// now: queued jobs whose RunAt has come, and running jobs whose lease
	// ended (their worker died). Each comes back running, locked by worker
	// until now+lease, with Attempts counting this attempt. A job is given
	// to one claimer at a time, across replicas. A running job whose lease
	// ended after its last attempt becomes dead instead.
	//
	// CompleteJob, FailJob, ReleaseJob and ExtendJob act on a job that
	// worker holds; ECONFLICT when it does not (its lease ended and another
	// worker took it, or an admin changed it), ENOTFOUND when there is no
	// such job. CompleteJob marks it done and drops its payload. FailJob
	// records the error and queues the job again for retryAt, or marks it
	// dead. ReleaseJob queues it again at once without counting the
	// attempt (a worker that stops). ExtendJob moves the end of its lease.
	//
	// Jobs lists jobs newest first. RetryJob queues a dead job again with
	// a fresh count of attempts (ECONFLICT for a job that is not dead).
	// PruneJobs deletes done jobs last updated before the given time and
	// returns how many it deleted; PruneJobKind does so for the jobs of
	// one kind only.
	EnqueueJob(ctx context.Context, j *Job) error
	Job(ctx context.Context, id string) (*Job, error)
	ClaimJobs(ctx context.Context, worker string, kinds []string, n int, lease time.Duration, now time.Time) ([]*Job, error)
	CompleteJob(ctx context.Context, id, worker string, now time.Time) error
	FailJob(ctx context.Context, id, worker, msg string, retryAt time.Time, dead bool) error
	ReleaseJob(ctx context.Context, id, worker string) error
	ExtendJob(ctx context.Context, id, worker string, until time.Time) error
	Jobs(ctx context.Context, f JobFilter) ([]*Job, string, error)
	RetryJob(ctx context.Context, id string, now time.Time) (*Job, error)
	PruneJobs(ctx context.Context, before time.Time) (int, error)
	PruneJobKind(ctx context.Context, kind string, before time.Time) (int, error)

	// Rate limits kept in the database, shared by every replica (see
	// RateLimit for the algorithm). TakeRateToken applies one request at
	// now to the bucket named key under limit, atomically across
	// replicas, and answers the decision; EINVALID for an empty key or an
	// invalid or off limit. The caller's clock is the one that counts, so
	// replicas should keep theirs in step (NTP does). PruneRateBuckets
	// drops the buckets that are full at now, which hold nothing, and
	// returns how many it dropped.
	TakeRateToken(ctx context.Context, key string, limit RateLimit, now time.Time) (RateDecision, error)
	PruneRateBuckets(ctx context.Context, now time.Time) (int, error)

	// Organization quotas. OrgQuota returns the quota of an organization,
	// the zero Quota when none was set (ENOTFOUND only when the
	// organization does not exist). SetOrgQuota replaces it (ENOTFOUND
	// for a missing organization, EINVALID for a negative cap); deleting
	// the organization deletes its quota and usage.
	//
	// ChargeUsage adds add to the organization's usage in the window of
	// period (LimitDay or LimitMonth) that starts at start, if the new
	// totals stay within caps (zero fields are no cap), atomically across
	// replicas, and returns the usage after the change; ETOOLARGE when a
	// cap would be passed, and then nothing is added. Called on the Store
	// of a transaction, the charge commits or rolls back with it. OrgUsage
	// returns the usage of one window, zero when nothing was charged.
	// PruneUsage deletes the usage of the windows of period that started
	// before the given time and returns how many it deleted.
	OrgQuota(ctx context.Context, orgID string) (Quota, error)
	SetOrgQuota(ctx context.Context, orgID string, q Quota) error
	ChargeUsage(ctx context.Context, orgID string, period LimitPeriod, start time.Time, add, caps Usage) (Usage, error)
	OrgUsage(ctx context.Context, orgID string, period LimitPeriod, start time.Time) (Usage, error)
	PruneUsage(ctx context.Context, period LimitPeriod, before time.Time) (int, error)

	// ClaimSweep elects one runner of periodic work across replicas: it
	// records owner as the runner of the sweep name until next and
	// reports true, if no runner holds it at now (never claimed, or its
	// next time has come); otherwise it changes nothing and reports
	// false. Of replicas racing for one sweep, exactly one wins.
	ClaimSweep(ctx context.Context, name, owner string, now, next time.Time) (bool, error)
}

// Page selects one page of a list. Lists are ordered by id (creation
// order) unless the filter says otherwise; After is the opaque cursor
// returned with the previous page. Limit is clamped to [1, MaxPageSize] and
// defaults to DefaultPageSize.
//
// Every list method returns the page and the cursor of the next page, or ""
// when this page is the last.
type Page struct {
	After string
	Limit int
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Size returns the effective page size.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// OrganizationFilter selects organizations.
type OrganizationFilter struct {
	Page
}

// UserFilter selects users. OrgID keeps the members of one organization;
// VendorOnly keeps vendor staff.
type UserFilter struct {
	Page
	OrgID      string
	VendorOnly bool
}

// MembershipFilter selects memberships of one user, one organization, or
// all. Ordered by user id, then organization id.
type MembershipFilter struct {
	Page
	UserID string
	OrgID  string
}

// ProductFilter selects products.
type ProductFilter struct {
	Page
}

// ReleaseFilter selects releases, newest created first.
type ReleaseFilter struct {
	Page
	ProductID string
	State     ReleaseState
	Channel   Channel
}

// ArtifactFilter selects artifacts.
type ArtifactFilter struct {
	Page
	ReleaseID string
	State     ArtifactState
}

// EntitlementFilter selects entitlements.
type EntitlementFilter struct {
	Page
	OrgID     string
	ProductID string
}

// TokenFilter selects tokens.
type TokenFilter struct {
	Page
	UserID string
	OrgID  string
	// TicketID keeps the tokens issued for one command-line sign-in code.
	TicketID string
}

// InvitationFilter selects pending invitations: tickets of kind invite
// that are not used, not withdrawn and expire after Now (the store's
// clock when zero). OrgID keeps one organization's; empty selects every
// pending invitation, the vendor's staff invitations included.
type InvitationFilter struct {
	Page
	OrgID string
	Now   time.Time
}

// UploadFilter selects uploads. ExpiredBefore keeps uploads whose
// ExpiresAt is before it.
type UploadFilter struct {
	Page
	ArtifactID    string
	State         UploadState
	ExpiredBefore time.Time
}

// DownloadFilter selects downloads, newest first. Zero fields do not
// filter.
type DownloadFilter struct {
	Page
	OrgID      string
	ProductID  string
	ArtifactID string
	GrantID    string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
}

// LicenseFilter selects licenses, newest first. Zero fields do not filter.
type LicenseFilter struct {
	Page
	OrgID     string
	ProductID string
	State     LicenseState
}

// AuditFilter selects audit events, newest first. Zero fields do not filter.
type AuditFilter struct {
	Page
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	OrgID      string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
}

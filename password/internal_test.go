package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var fastParams = Params{Memory: 64, Time: 1, Threads: 1}

func TestCommonListSize(t *testing.T) {
	set, err := parseList(commonGz)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) < 10000 {
		t.Errorf("common list has %d entries, want at least 10000", len(set))
	}
	for w := range set {
		if len([]rune(w)) < MinLength {
			t.Errorf("common list holds %q, shorter than MinLength: the length rule refuses it already", w)
		}
	}
}

// fillSlots takes every hashing slot and returns a function that gives
// them back.
func fillSlots(t *testing.T) (release func()) {
	t.Helper()
	for range cap(slots) {
		slots <- struct{}{}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for range cap(slots) {
				<-slots
			}
		})
	}
	t.Cleanup(release)
	return release
}

func TestHashWaitsForASlot(t *testing.T) {
	release := fillSlots(t)
	// With every slot taken a hash must wait: it ends with its context, not
	// with a result, although these parameters hash in microseconds.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Hash(ctx, "waiting for a slot", fastParams); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash with every slot taken: err = %v, want DeadlineExceeded", err)
	}
	release()
	if _, err := Hash(context.Background(), "waiting for a slot", fastParams); err != nil {
		t.Fatalf("Hash after release: %v", err)
	}
}

func TestCancelStopsWaiting(t *testing.T) {
	fillSlots(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Verify(ctx, "pw", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Verify after cancel: err = %v, want Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Verify still waits for a slot after its context was cancelled")
	}
}

func TestCancelledContextTakesNoSlot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		if _, err := Hash(ctx, "pw", fastParams); !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash(cancelled ctx) err = %v, want Canceled", err)
		}
	}
}

func TestConcurrencyBounded(t *testing.T) {
	var active, peak atomic.Int32
	orig := idKey
	t.Cleanup(func() { idKey = orig })
	idKey = func(pw, salt []byte, time, memory uint32, threads uint8, n uint32) []byte {
		a := active.Add(1)
		for {
			p := peak.Load()
			if a <= p || peak.CompareAndSwap(p, a) {
				break
			}
		}
		defer active.Add(-1)
		// Hold the slot long enough for every waiting caller to pile up.
		waitBriefly()
		return orig(pw, salt, time, memory, threads, n)
	}
	var wg sync.WaitGroup
	for range 4*cap(slots) + 3 {
		wg.Go(func() {
			if _, err := Hash(context.Background(), "flood", fastParams); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, limit := peak.Load(), int32(cap(slots)); got > limit || got < 1 {
		t.Errorf("peak concurrent hashes = %d, want between 1 and the limit %d", got, limit)
	}
}

func waitBriefly() { time.Sleep(5 * time.Millisecond) }

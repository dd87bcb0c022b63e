package licensefile_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/freight-portal/freight/licensefile"
)

// A vendor application checks its license file at start: genuine, valid
// now, on this dongle, and which features it unlocks.
func Example() {
	pub, _ := base64.StdEncoding.DecodeString("IVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=") // the vendor's public key, built in
	keys := map[string]ed25519.PublicKey{"k1": pub}

	data, err := os.ReadFile("testdata/example.lic")
	if err != nil {
		log.Fatal(err)
	}
	lic, err := licensefile.Verify(data, keys)
	if err != nil {
		log.Fatal(err) // e.g. "licensefile: bad signature: key id \"k1\""
	}
	if err := lic.Valid(time.Now()); err != nil || !lic.BoundTo("dongle-4711") {
		log.Fatal("no valid license for this dongle: ", err)
	}
	fmt.Println("licensed to", lic.Organization.Name)
	fmt.Println("CAM:", lic.HasFeature("cam"), "- simulation:", lic.HasFeature("simulation"))
	// Output:
	// licensed to ACME Fertigung GmbH
	// CAM: true - simulation: false
}

// An application whose vendor encrypts license files needs the customer's
// secret too, typed in once or read from the dongle.
func ExampleVerifyEncrypted() {
	pub, _ := base64.StdEncoding.DecodeString("IVL40Zt5HSRFMkLhXy6rbLfP+ntqXtMAl5YOBpiB2xI=")
	keys := map[string]ed25519.PublicKey{"k1": pub}
	secret, err := licensefile.ParseSecret("U1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1NTU1M")
	if err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile("testdata/example-encrypted.lic")
	if err != nil {
		log.Fatal(err)
	}
	lic, err := licensefile.VerifyEncrypted(data, keys, secret)
	if err != nil {
		log.Fatal(err)
	}
	cam, _ := lic.Feature("cam")
	fmt.Printf("%s: %s, up to %d machines\n", cam.Name, cam.Value, *cam.Limit)
	fmt.Println("covers a release of 2027-06-01:", lic.CoversRelease(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)))
	// Output:
	// cam: 5-axis, up to 4 machines
	// covers a release of 2027-06-01: false
}

// The portal issues a file with its license key.
func ExampleSign() {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // the portal's key, from its keyring
	lic := &licensefile.License{
		ID:           "lic_1",
		Organization: licensefile.Organization{ID: "org_1", Name: "Globex"},
		Product:      "viewer",
		Features:     []licensefile.Feature{{Name: "print"}},
		IssuedAt:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
	file, err := licensefile.Sign(lic, "k7", priv)
	if err != nil {
		log.Fatal(err)
	}
	got, err := licensefile.Verify(file, map[string]ed25519.PublicKey{"k7": priv.Public().(ed25519.PublicKey)})
	fmt.Println(got.Organization.Name, got.HasFeature("print"), err)
	fmt.Printf("%s", file[:len(licensefile.Header)+1])
	// Output:
	// Globex true <nil>
	// -----BEGIN FREIGHT LICENSE-----
}

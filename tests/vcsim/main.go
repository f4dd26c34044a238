// vcsim-lite: a small launcher for govmomi's vCenter/ESXi simulator (package
// github.com/vmware/govmomi/simulator), built in GOPATH mode against Debian's
// golang-github-vmware-govmomi-dev. Debian does not ship the upstream vcsim
// or govc commands, only the library, so this file replaces vcsim/main.go.
//
// The publish tests (tests/publish_support) build it once per test run into
// CARGO_TARGET_TMPDIR and start one instance per test on 127.0.0.1:0; the
// launcher prints VCSIM_URL, one VCSIM_DATASTORE line per datastore, then
// VCSIM_READY, and exits when stdin closes or on SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator" // /rest: cis session, tagging, content library
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "listen address (keep it on loopback)")
	username := flag.String("username", "user", "login username (empty: any non-empty user accepted)")
	password := flag.String("password", "pass", "login password")
	useTLS := flag.Bool("tls", true, "serve https")
	certFile := flag.String("tlscert", "", "PEM certificate (default: Go's built-in self-signed localhost cert)")
	keyFile := flag.String("tlskey", "", "PEM private key for -tlscert")
	esx := flag.Bool("esx", false, "simulate a standalone ESXi host (dcPath=ha-datacenter, no /rest content library)")
	ds := flag.Int("ds", 1, "number of local datastores")
	dc := flag.Int("dc", 1, "number of datacenters (vCenter model)")
	folders := flag.Int("folder", 0, "datacenters placed in a folder of their own (vCenter model)")
	inaccessible := flag.String("inaccessible", "", "datastore to report as not accessible")
	free := flag.Int64("free", -1, "free space every datastore reports, in bytes (-1: as simulated)")
	idle := flag.Duration("idle", 0, "SOAP session idle timeout (0: none)")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	}
	model.Datastore = *ds
	if !*esx {
		model.Datacenter = *dc
		model.Folder = *folders
	}
	simulator.SessionIdleTimeout = *idle
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	model.Service.RegisterEndpoints = true
	u := &url.URL{Host: *listen}
	if *username != "" {
		u.User = url.UserPassword(*username, *password)
	}
	model.Service.Listen = u
	if *useTLS {
		model.Service.TLS = new(tls.Config)
		if *certFile != "" {
			c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
			if err != nil {
				log.Fatal(err)
			}
			model.Service.TLS.Certificates = []tls.Certificate{c}
		}
	}

	s := model.Service.NewServer()
	fmt.Printf("VCSIM_URL=%s\n", s.URL)
	for _, e := range simulator.Map.All("Datastore") {
		d := e.(*simulator.Datastore)
		if d.Name == *inaccessible {
			d.Summary.Accessible = false
		}
		if *free >= 0 {
			d.Summary.FreeSpace = *free
		}
		fmt.Printf("VCSIM_DATASTORE name=%s moref=%s path=%s\n",
			d.Name, d.Self.Value, d.Info.GetDatastoreInfo().Url)
	}
	fmt.Println("VCSIM_READY")

	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	// A test that dies without stopping us closes our stdin: exit then too.
	go func() {
		io.Copy(ioutil.Discard, os.Stdin)
		c <- syscall.SIGTERM
	}()
	<-c
	s.Close()
}

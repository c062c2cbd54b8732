// A peer that checks the station's transparency log with Go's golang.org/x/mod/sumdb packages
// (Debian golang-golang-x-mod-dev), not with the station's own code: it opens the checkpoints
// with sumdb/note, reads the tiles over HTTP through sumdb/tlog (which authenticates every tile
// against the signed root), checks every entry bundle against the level-0 tiles, computes
// inclusion and consistency proofs itself and checks the station's own proofs.
//
// Usage: peer BASE_URL VERIFIER_KEY OLD_CHECKPOINT_FILE PROOFS_JSON_FILE
// Exit status 0 with a summary when everything checks out; 1 with the first failure otherwise.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, a ...interface{}) {
	fmt.Printf("peer: FAIL: "+format+"\n", a...)
	os.Exit(1)
}

// openCheckpoint verifies a C2SP checkpoint note and parses its three lines.
func openCheckpoint(msg []byte, v note.Verifier) tlog.Tree {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("checkpoint does not open with the verifier key: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		fail("checkpoint text is not three lines: %q", n.Text)
	}
	if lines[0] != v.Name() {
		fail("checkpoint origin %q is not the key name %q", lines[0], v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("checkpoint size %q is not canonical decimal", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("checkpoint root %q is not a base64 hash", lines[2])
	}
	var h tlog.Hash
	copy(h[:], root)
	return tlog.Tree{N: size, Hash: h}
}

func get(url string) []byte {
	r, err := http.Get(url)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		fail("GET %s: status %d %v", url, r.StatusCode, err)
	}
	return b
}

// tileReader serves sumdb/tlog's tiles (height 8) from the C2SP tlog-tiles layout, whose paths
// are Go's without the height element: tile/8/L/N[.p/W] is <base>/log/tile/L/N[.p/W].
type tileReader struct {
	base  string
	reads int
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p := strings.TrimPrefix(t.Path(), "tile/8/")
		b := get(r.base + "/log/tile/" + p)
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s is %d bytes, want %d", p, len(b), t.W*tlog.HashSize)
		}
		r.reads++
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func b64s(list []string) []tlog.Hash {
	var out []tlog.Hash
	for _, s := range list {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof hash %q is not base64 of 32 bytes", s)
		}
		var h tlog.Hash
		copy(h[:], b)
		out = append(out, h)
	}
	return out
}

type proofs struct {
	Inclusion []struct {
		Index int64    `json:"index"`
		Size  int64    `json:"size"`
		Proof []string `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Old   int64    `json:"old"`
		Size  int64    `json:"size"`
		Proof []string `json:"proof"`
	} `json:"consistency"`
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: peer BASE_URL VERIFIER_KEY OLD_CHECKPOINT_FILE PROOFS_JSON_FILE")
	}
	base, vkey := strings.TrimRight(os.Args[1], "/"), os.Args[2]
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	cur := openCheckpoint(get(base+"/log/checkpoint"), v)
	oldMsg, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	old := openCheckpoint(oldMsg, v)
	if old.N > cur.N {
		fail("old checkpoint %d is newer than the current %d", old.N, cur.N)
	}

	tr := &tileReader{base: base}
	hr := tlog.TileHashReader(cur, tr)
	th, err := tlog.TreeHash(cur.N, hr)
	if err != nil || th != cur.Hash {
		fail("tree hash from the tiles: %v %v, checkpoint says %v", th, err, cur.Hash)
	}

	// Every entry of every bundle hashes to its leaf in the authenticated level-0 tiles.
	entries := int64(0)
	for n := int64(0); n*256 < cur.N; n++ {
		w := cur.N - n*256
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
		data := get(base + "/log/" + strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1))
		idx := make([]int64, 0, w)
		for i := int64(0); i < w; i++ {
			idx = append(idx, tlog.StoredHashIndex(0, n*256+i))
		}
		hashes, err := hr.ReadHashes(idx)
		if err != nil {
			fail("leaf hashes of bundle %d: %v", n, err)
		}
		rd := bytes.NewReader(data)
		for i := int64(0); i < w; i++ {
			var l uint16
			if err := binary.Read(rd, binary.BigEndian, &l); err != nil {
				fail("entry bundle %d: entry %d has no length: %v", n, i, err)
			}
			e := make([]byte, l)
			if _, err := io.ReadFull(rd, e); err != nil {
				fail("entry bundle %d: entry %d cut off", n, i)
			}
			if tlog.RecordHash(e) != hashes[i] {
				fail("entry %d does not hash to its leaf in the tiles", n*256+i)
			}
			entries++
		}
		if rd.Len() != 0 {
			fail("entry bundle %d has %d bytes after its %d entries", n, rd.Len(), w)
		}
	}

	// Proofs Go makes from our tiles.
	for _, i := range []int64{0, cur.N / 2, cur.N - 1} {
		p, err := tlog.ProveRecord(cur.N, i, hr)
		if err != nil {
			fail("prove record %d: %v", i, err)
		}
		lh, _ := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err := tlog.CheckRecord(p, cur.N, cur.Hash, i, lh[0]); err != nil {
			fail("Go's own inclusion proof of %d: %v", i, err)
		}
	}
	tp, err := tlog.ProveTree(cur.N, old.N, hr)
	if err != nil {
		fail("prove tree %d -> %d: %v", old.N, cur.N, err)
	}
	if err := tlog.CheckTree(tp, cur.N, cur.Hash, old.N, old.Hash); err != nil {
		fail("the old checkpoint (%d) is not a prefix of the current one (%d): %v", old.N, cur.N, err)
	}

	// The station's own proofs, checked by Go.
	pb, err := os.ReadFile(os.Args[4])
	if err != nil {
		fail("%v", err)
	}
	var ps proofs
	if err := json.Unmarshal(pb, &ps); err != nil {
		fail("proofs file: %v", err)
	}
	rootAt := func(n int64) tlog.Hash {
		h, err := tlog.TreeHash(n, hr)
		if err != nil {
			fail("tree hash at %d: %v", n, err)
		}
		return h
	}
	for _, x := range ps.Inclusion {
		lh, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, x.Index)})
		if err != nil {
			fail("leaf %d: %v", x.Index, err)
		}
		if err := tlog.CheckRecord(b64s(x.Proof), x.Size, rootAt(x.Size), x.Index, lh[0]); err != nil {
			fail("the station's inclusion proof of leaf %d in tree %d: %v", x.Index, x.Size, err)
		}
	}
	for _, x := range ps.Consistency {
		if err := tlog.CheckTree(b64s(x.Proof), x.Size, rootAt(x.Size), x.Old, rootAt(x.Old)); err != nil {
			fail("the station's consistency proof %d -> %d: %v", x.Old, x.Size, err)
		}
	}
	fmt.Printf("peer: OK: checkpoints %d and %d verified; %d entries match the tiles (%d tiles read); %d inclusion and %d consistency proofs of the station check out\n",
		old.N, cur.N, entries, tr.reads, len(ps.Inclusion), len(ps.Consistency))
}

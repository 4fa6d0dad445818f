// tlog-verify: an independent verifier of signerd transparency logs, built only on the Go
// reference packages golang.org/x/mod/sumdb/note (signed notes) and sumdb/tlog (RFC 6962 hashes,
// tiles, inclusion and consistency proofs) as Debian ships them. The tests build and run it.
//
// Usage (exit 0: verified, 1: rejected, 2: usage):
//
//	tlog-verify checkpoint  <vkey> <checkpoint file>
//	tlog-verify tiles       <vkey> <log dir, or http:// URL of a log served by `signerd log serve`>
//	tlog-verify inclusion   <vkey> <checkpoint file> <entry file> <proof file>
//	tlog-verify consistency <vkey> <old checkpoint> <new checkpoint> <proof file>
//	tlog-verify bundle      <vkey> <bundle file>
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// C2SP tlog-tiles fixes the tile height at 8 (256 hashes per tile).
const tileHeight = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tlog-verify checkpoint|tiles|inclusion|consistency|bundle <vkey> <files...>")
	os.Exit(2)
}

func read(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return data
}

// openCheckpoint verifies a checkpoint note with the log's verifier key and parses its text:
// origin (the key's name), tree size, base64 root hash.
func openCheckpoint(vkey string, msg []byte) tlog.Tree {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: origin line is not %q", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("checkpoint: bad tree size %q", lines[1])
	}
	hash, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint: bad root hash %q", lines[2])
	}
	return tlog.Tree{N: size, Hash: hash}
}

// c2spPath maps a Go tile to its C2SP path: the same index encoding, without the height segment,
// and entry bundles under tile/entries instead of tile/H/data.
func c2spPath(t tlog.Tile) string {
	p := t.Path()
	if t.L == -1 {
		return strings.Replace(p, fmt.Sprintf("tile/%d/data/", tileHeight), "tile/entries/", 1)
	}
	return strings.Replace(p, fmt.Sprintf("tile/%d/", tileHeight), "tile/", 1)
}

// logFiles reads a log's public files by their C2SP paths: from a directory, or over HTTP from a
// base URL as a mirror or witness would.
type logFiles struct{ location string }

func (l logFiles) read(rel string) ([]byte, error) {
	if !strings.HasPrefix(l.location, "http://") {
		return os.ReadFile(filepath.Join(l.location, rel))
	}
	resp, err := http.Get(strings.TrimSuffix(l.location, "/") + "/" + rel)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", rel, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func (l logFiles) must(rel string) []byte {
	data, err := l.read(rel)
	if err != nil {
		fail("%v", err)
	}
	return data
}

func (l logFiles) Height() int { return tileHeight }

func (l logFiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := l.read(c2spPath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (l logFiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// parseBundle splits an entry bundle: big-endian uint16 length-prefixed entries.
func parseBundle(data []byte, want int) [][]byte {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			fail("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			fail("entry bundle: truncated entry")
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	if len(entries) != want {
		fail("entry bundle: %d entries, want %d", len(entries), want)
	}
	return entries
}

func verifyTiles(vkey, location string) {
	files := logFiles{location}
	tree := openCheckpoint(vkey, files.must("checkpoint"))
	reader := tlog.TileHashReader(tree, files)
	indexes := make([]int64, tree.N)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, int64(i))
	}
	// Every leaf hash, through tiles authenticated up to the checkpoint's root.
	leaves, err := reader.ReadHashes(indexes)
	if err != nil {
		fail("tiles: %v", err)
	}
	root, err := tlog.TreeHash(tree.N, reader)
	if err != nil || root != tree.Hash {
		fail("tiles: the tree hash is not the checkpoint's (%v)", err)
	}
	for start := int64(0); start < tree.N; start += 1 << tileHeight {
		width := tree.N - start
		if width > 1<<tileHeight {
			width = 1 << tileHeight
		}
		bundle := tlog.Tile{H: tileHeight, L: -1, N: start >> tileHeight, W: int(width)}
		for j, entry := range parseBundle(files.must(c2spPath(bundle)), int(width)) {
			if tlog.RecordHash(entry) != leaves[start+int64(j)] {
				fail("entry %d does not hash to its leaf in the tiles", start+int64(j))
			}
		}
	}
	fmt.Printf("OK tiles: %d entries, root %s\n", tree.N, tree.Hash)
}

// proofLines parses signerd's proof text: a header, named root lines, then base64 hashes.
func proofLines(text []byte, header string, names ...string) ([]string, []tlog.Hash, []int64) {
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) < 1+len(names) {
		fail("proof: too short")
	}
	fields := strings.Fields(lines[0])
	if len(fields) < 1 || fields[0] != header {
		fail("proof: not a %s proof", header)
	}
	var numbers []int64
	for _, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			fail("proof: bad number %q", f)
		}
		numbers = append(numbers, n)
	}
	var roots []string
	for i, name := range names {
		if !strings.HasPrefix(lines[1+i], name+" ") {
			fail("proof: missing %s line", name)
		}
		roots = append(roots, strings.TrimPrefix(lines[1+i], name+" "))
	}
	var hashes []tlog.Hash
	for _, line := range lines[1+len(names):] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			fail("proof: bad hash %q", line)
		}
		hashes = append(hashes, h)
	}
	return roots, hashes, numbers
}

func verifyInclusion(vkey, checkpointFile, entryFile, proofFile string) {
	tree := openCheckpoint(vkey, read(checkpointFile))
	entry := bytes.TrimSuffix(read(entryFile), []byte("\n"))
	roots, proof, numbers := proofLines(read(proofFile), "inclusion", "root")
	if len(numbers) != 2 || numbers[1] != tree.N || roots[0] != tree.Hash.String() {
		fail("inclusion: the proof is not against the checkpoint's tree")
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), tree.N, tree.Hash, numbers[0], tlog.RecordHash(entry)); err != nil {
		fail("inclusion: %v", err)
	}
	fmt.Printf("OK inclusion: entry %d in tree %d\n", numbers[0], tree.N)
}

func verifyConsistency(vkey, oldFile, newFile, proofFile string) {
	older := openCheckpoint(vkey, read(oldFile))
	newer := openCheckpoint(vkey, read(newFile))
	roots, proof, numbers := proofLines(read(proofFile), "consistency", "old-root", "new-root")
	if len(numbers) != 2 || numbers[0] != older.N || numbers[1] != newer.N || roots[0] != older.Hash.String() || roots[1] != newer.Hash.String() {
		fail("consistency: the proof is not between these checkpoints")
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), newer.N, newer.Hash, older.N, older.Hash); err != nil {
		fail("consistency: %v", err)
	}
	fmt.Printf("OK consistency: %d is a prefix of %d\n", older.N, newer.N)
}

// verifyBundle checks a c2sp.org/tlog-proof@v1 whose extra data is the log entry itself.
func verifyBundle(vkey, bundleFile string) {
	data := read(bundleFile)
	split := bytes.Index(data, []byte("\n\n"))
	if split < 0 {
		fail("bundle: no checkpoint")
	}
	lines := strings.Split(string(data[:split]), "\n")
	if len(lines) < 3 || lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") || !strings.HasPrefix(lines[2], "index ") {
		fail("bundle: not a tlog-proof with extra data")
	}
	entry, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	if err != nil {
		fail("bundle: extra is not base64")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[2], "index "), 10, 64)
	if err != nil {
		fail("bundle: bad index")
	}
	var proof tlog.RecordProof
	for _, line := range lines[3:] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			fail("bundle: bad hash %q", line)
		}
		proof = append(proof, h)
	}
	tree := openCheckpoint(vkey, data[split+2:])
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(entry)); err != nil {
		fail("bundle: %v", err)
	}
	fmt.Printf("OK bundle: entry %d in tree %d: %s\n", index, tree.N, entry)
}

func main() {
	args := os.Args[1:]
	if len(args) < 3 {
		usage()
	}
	switch {
	case args[0] == "checkpoint" && len(args) == 3:
		tree := openCheckpoint(args[1], read(args[2]))
		fmt.Printf("OK checkpoint: size %d root %s\n", tree.N, tree.Hash)
	case args[0] == "tiles" && len(args) == 3:
		verifyTiles(args[1], args[2])
	case args[0] == "inclusion" && len(args) == 5:
		verifyInclusion(args[1], args[2], args[3], args[4])
	case args[0] == "consistency" && len(args) == 5:
		verifyConsistency(args[1], args[2], args[3], args[4])
	case args[0] == "bundle" && len(args) == 3:
		verifyBundle(args[1], args[2])
	default:
		usage()
	}
}

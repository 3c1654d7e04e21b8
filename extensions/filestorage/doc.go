// Package filestorage is the file_storage extension of Sieve: contrib's file_storage, which
// keeps the persistent sending queues, with a check of every queue file before it is opened.
// A file that bbolt cannot read (truncated, overwritten, or not a database at all) makes
// contrib's extension fail every start, or panic inside bbolt, so a supervised collector would
// restart in a loop and deliver nothing. Here such a file is moved aside, counted and logged,
// and the queue starts empty: the items it held are lost, everything after it flows.
//
//go:generate ../../.tools/bin/mdatagen metadata.yaml
package filestorage // import "github.com/sieveobs/sieve/extensions/filestorage"

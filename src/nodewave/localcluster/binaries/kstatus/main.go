// kstatus reads Kubernetes objects (a JSON list on stdin) and prints, per object, the status
// cli-utils' kstatus computes for it — the library Flux, kpt and Config Sync use to judge health.
package main

import (
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	// Kubernetes' JSON decoding: whole numbers become int64, as unstructured objects expect.
	var items []map[string]interface{}
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(data, &items)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, item := range items {
		res, err := status.Compute(&unstructured.Unstructured{Object: item})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%s\n", res.Status, res.Message)
	}
}

package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkplane/sparkplane/pkg/gang"
)

// annotateLoop removes the gang annotation from drivers whose reservation
// is done (complete, expired or released), so that a restarted scheduler
// does not hold it again. PreBind writes the annotation; the removal is
// not urgent (Rebuild of a complete reservation finds every slot taken)
// and runs here, off the scheduling and binding paths, with retries.
func (p *SparkGang) annotateLoop(ctx context.Context) {
	for p.processAnnotation(ctx) {
	}
}

func (p *SparkGang) processAnnotation(ctx context.Context) bool {
	key, quit := p.annotate.Get()
	if quit {
		return false
	}
	defer p.annotate.Done(key)
	if err := p.syncAnnotation(ctx, key); err != nil {
		p.logger.Error(err, "Removing the gang annotation of a driver whose reservation is done; retrying", "driver", key)
		p.annotate.AddRateLimited(key)
		return true
	}
	p.annotate.Forget(key)
	return true
}

func (p *SparkGang) syncAnnotation(ctx context.Context, key string) error {
	namespace, name, _ := strings.Cut(key, "/")
	pod, err := p.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	value, ok := pod.Annotations[gang.AnnotationGang]
	if !ok {
		return nil
	}
	p.mu.Lock()
	_, held := p.ledger.Get(gang.AppKeyOf(pod))
	p.mu.Unlock()
	if held {
		return nil
	}
	// Remove exactly the value seen: if a new reservation of the driver
	// was written meanwhile, the test fails and it stays.
	path := "/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(gang.AnnotationGang, "~", "~0"), "/", "~1")
	patch, err := json.Marshal([]map[string]any{{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}})
	if err != nil {
		return err
	}
	_, err = p.handle.ClientSet().CoreV1().Pods(namespace).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	var status apierrors.APIStatus
	if apierrors.IsNotFound(err) || errors.As(err, &status) && status.Status().Code == http.StatusUnprocessableEntity {
		return nil // gone, or the annotation changed since
	}
	return err
}

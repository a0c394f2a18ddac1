package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Job is one unit of work. Run must return promptly once ctx is cancelled.
type Job interface {
	ID() string
	Run(ctx context.Context) error
}

// Result reports how one job went.
type Result struct {
	JobID    string
	Attempts int
	Elapsed  time.Duration
	Err      error
}

// Pool runs jobs on a fixed number of workers, retrying failures with exponential backoff.
type Pool struct {
	Workers     int
	MaxAttempts int
	BaseDelay   time.Duration
	Logger      *slog.Logger
}

var ErrPermanent = errors.New("permanent failure")

func (p *Pool) Run(ctx context.Context, jobs <-chan Job) <-chan Result {
	results := make(chan Result)
	var wg sync.WaitGroup
	for w := 0; w < p.Workers; w++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for job := range jobs {
				res := p.runOne(ctx, job)
				p.Logger.Info("job finished", "worker", worker, "job", res.JobID,
					"attempts", res.Attempts, "elapsed", res.Elapsed, "err", res.Err)
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}(w)
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	return results
}

func (p *Pool) runOne(ctx context.Context, job Job) Result {
	start := time.Now()
	delay := p.BaseDelay
	var err error
	for attempt := 1; attempt <= p.MaxAttempts; attempt++ {
		err = job.Run(ctx)
		if err == nil || errors.Is(err, ErrPermanent) {
			return Result{JobID: job.ID(), Attempts: attempt, Elapsed: time.Since(start), Err: err}
		}
		if attempt == p.MaxAttempts {
			break
		}
		select {
		case <-time.After(delay):
			delay *= 2
		case <-ctx.Done():
			return Result{JobID: job.ID(), Attempts: attempt, Elapsed: time.Since(start), Err: ctx.Err()}
		}
	}
	return Result{
		JobID:    job.ID(),
		Attempts: p.MaxAttempts,
		Elapsed:  time.Since(start),
		Err:      fmt.Errorf("giving up after %d attempts: %w", p.MaxAttempts, err),
	}
}
